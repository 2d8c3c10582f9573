from soberana.cli.main import main

main()
