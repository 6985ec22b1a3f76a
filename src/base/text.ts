/** ANSI escape sequences (CSI: colours, cursor moves; OSC: titles, links; charset picks) and the CR of terminal output. */
// eslint-disable-next-line no-control-regex -- ESC is exactly what is matched
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r/g;

/** Text as a log or a notification shows it: no escape sequence drawn as boxes. */
export const stripAnsi = (text: string): string => text.replace(ANSI, '');
