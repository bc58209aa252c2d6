/** Milliseconds since the epoch; injected so tests move time instead of sleeping. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

export const seconds = (clock: Clock): number => Math.floor(clock() / 1000);
