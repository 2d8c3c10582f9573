"""Leaf utilities shared by every layer. Nothing in here imports another Soberana package."""
