"""Staff training and AI literacy: courses, quizzes, completion records that gate access (docs/training.md)."""
