from pluginops.cli import main

main()
