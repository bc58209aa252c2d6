import type { IncomingHttpHeaders } from "node:http";

/**
 * A Fetch `Headers` over a Node request's header object, without copying it: a handler reads one or two
 * headers per call, and building an undici Headers of every request header cost more than the reads.
 * Reads see Node's parsed headers (lower-case names, repeated fields joined with ", " as Fetch does);
 * writes go to the same object.
 */
export class IncomingHeaders implements Headers {
  constructor(private readonly raw: IncomingHttpHeaders) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return typeof value === "string" ? value : value.join(", ");
  }

  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }

  getSetCookie(): string[] {
    const value = this.raw["set-cookie"];
    return value === undefined ? [] : [...value];
  }

  set(name: string, value: string): void {
    this.raw[name.toLowerCase()] = String(value);
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const current = this.raw[key];
    if (current === undefined) this.raw[key] = String(value);
    else if (key === "set-cookie") this.raw[key] = [...(Array.isArray(current) ? current : [current]), String(value)];
    else this.raw[key] = `${Array.isArray(current) ? current.join(", ") : current}, ${value}`;
  }

  delete(name: string): void {
    delete this.raw[name.toLowerCase()];
  }

  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  /** In sorted name order, as Fetch iterates. */
  *entries(): IterableIterator<[string, string]> {
    for (const key of Object.keys(this.raw).sort()) {
      const value = this.get(key);
      if (value !== null) yield [key, value];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}
