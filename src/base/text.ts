/** ANSI escape sequences (CSI: colours, cursor moves; OSC: titles, links; charset picks) and the CR of terminal output. */
// eslint-disable-next-line no-control-regex -- ESC is exactly what is matched
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r/g;

/**
 * Text as a log, a terminal or a notification shows it: no escape sequence, and no control
 * byte left over from one this does not parse (DCS, APC, tmux passthrough, C1 CSI, an OSC
 * without its end). Tabs and newlines stay.
 */
// eslint-disable-next-line no-control-regex -- control bytes are exactly what is removed
export const stripAnsi = (text: string): string => text.replace(ANSI, '').replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '');

/**
 * Text a notification may show without obeying it: VS Code turns `[label](command:…)` in a
 * notification or progress message into a link that runs the command (allowCommands), so
 * the `](` that such a link needs is broken apart. For any text the workspace had a hand in.
 */
export const noLinks = (text: string): string => text.replace(/\]\s*\(/g, '] (');

/**
 * Text as Markdown shows it and nothing more: every ASCII punctuation mark escaped (no link,
 * image, HTML, emphasis or table cell of the workspace's making; no autolinked URL either,
 * since the escapes split it), and no line break (a table row stays one row).
 */
export const markdownText = (text: string): string => text.replace(/[!-/:-@[-`{-~]/g, '\\$&').replace(/\s*[\r\n]+\s*/g, ' ');
