// Colours only on a terminal (and never with NO_COLOR), so piped output stays plain text.
// The stream is looked at when a colour is asked for: Node builds process.stderr on first use
// (~2 ms), and most commands never write to it.
const on = (stream: NodeJS.WriteStream) => stream.isTTY === true && !process.env.NO_COLOR

function paint (code: number, stream: () => NodeJS.WriteStream) {
  return (s: string) => on(stream()) ? `\x1b[${code}m${s}\x1b[0m` : s
}

export const red = paint(31, () => process.stderr)
export const green = paint(32, () => process.stdout)
export const dim = paint(2, () => process.stdout)
export const bold = paint(1, () => process.stdout)
