# bash completion for makini; install:
#   makini completion bash > ~/.local/share/bash-completion/completions/makini
_makini_completion() {
    local IFS=$'\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _MAKINI_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _makini_completion makini
