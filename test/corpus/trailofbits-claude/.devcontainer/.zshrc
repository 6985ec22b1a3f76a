# hdc corpus stand-in for the original's custom shell settings.
export HISTFILE=/commandhistory/.zsh_history
alias ll='ls -la'
