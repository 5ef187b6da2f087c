#compdef makini
# zsh completion for makini; install (once, then restart zsh):
#   mkdir -p ~/.zfunc && makini completion zsh > ~/.zfunc/_makini
#   and in ~/.zshrc, before compinit:  fpath=(~/.zfunc $fpath)

_makini_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _MAKINI_COMPLETE=complete_zsh makini)
}

if [[ "${funcstack[1]}" == _makini ]]; then
  # autoloaded from $fpath as _makini: complete this Tab too
  _makini_completion "$@"
else
  compdef _makini_completion makini
fi
