
#compdef makini

_makini_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _MAKINI_COMPLETE=complete_zsh makini)
}

compdef _makini_completion makini

