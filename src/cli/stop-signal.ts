/**
 * Resolves with the first SIGINT or SIGTERM, for commands that run until stopped. Register it
 * before starting, so a signal that arrives during start-up is not lost (as PID 1 in a container
 * nothing else would handle it).
 */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
