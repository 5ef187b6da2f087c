# fish completion for makini; install:
#   makini completion fish > ~/.config/fish/completions/makini.fish
complete --command makini --no-files --arguments "(env _MAKINI_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=get-args _TYPER_COMPLETE_ARGS=(commandline -cp) makini)" --condition "env _MAKINI_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=is-args _TYPER_COMPLETE_ARGS=(commandline -cp) makini"
