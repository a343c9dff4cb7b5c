from adrank.cli import main

main()
