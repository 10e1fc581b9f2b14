from tunebook.cli import main

main()
