/** Reports a long step; the CLI shows a spinner, libraries default to silence. */
export type Progress = <T>(label: string, fn: () => Promise<T>) => Promise<T>;

export const silentProgress: Progress = (_label, fn) => fn();

/**
 * Spinner with elapsed seconds on a TTY; on a pipe (CI logs) one line at the start and one at
 * the end, plus a dot every 5 s so a slow step is visibly alive.
 */
export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  return async (label, fn) => {
    const t0 = Date.now();
    const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
    const tty = stream.isTTY === true;
    const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let i = 0;
    if (!tty) stream.write(`${label} ...`);
    const timer = setInterval(
      () => {
        if (tty) stream.write(`\r${frames[i++ % frames.length]} ${label} (${secs()}s)\x1b[K`);
        else stream.write('.');
      },
      tty ? 100 : 5_000,
    );
    timer.unref();
    try {
      const v = await fn();
      clearInterval(timer);
      stream.write(tty ? `\r✔ ${label} (${secs()}s)\x1b[K\n` : ` done (${secs()}s)\n`);
      return v;
    } catch (e) {
      clearInterval(timer);
      stream.write(tty ? `\r✖ ${label} (${secs()}s)\x1b[K\n` : ` failed (${secs()}s)\n`);
      throw e;
    }
  };
}
