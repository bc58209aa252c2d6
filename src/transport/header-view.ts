import type { IncomingHttpHeaders } from "node:http";

/**
 * A Fetch `Headers` over a transport's own header store, without copying it: a handler reads one or two
 * headers per call, and building an undici Headers of every request header cost more than the reads.
 * Names are lower case; repeated fields read joined with ", " and iterate in sorted order, as Fetch does.
 */
export abstract class HeaderView implements Headers {
  /** The field's values, or undefined when absent. */
  protected abstract read(name: string): string | readonly string[] | undefined;
  protected abstract write(name: string, value: string | string[]): void;
  protected abstract remove(name: string): void;
  protected abstract names(): string[];

  get(name: string): string | null {
    const value = this.read(name.toLowerCase());
    if (value === undefined) return null;
    return typeof value === "string" ? value : value.join(", ");
  }

  has(name: string): boolean {
    return this.read(name.toLowerCase()) !== undefined;
  }

  getSetCookie(): string[] {
    const value = this.read("set-cookie");
    return value === undefined ? [] : typeof value === "string" ? [value] : [...value];
  }

  set(name: string, value: string): void {
    this.write(name.toLowerCase(), String(value));
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const current = this.read(key);
    if (current === undefined) this.write(key, String(value));
    else this.write(key, [...(typeof current === "string" ? [current] : current), String(value)]);
  }

  delete(name: string): void {
    this.remove(name.toLowerCase());
  }

  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const key of this.names().sort()) {
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

/** The headers of a Node HTTP request (writes go to `req.headers`). */
export class IncomingHeaders extends HeaderView {
  constructor(private readonly raw: IncomingHttpHeaders) {
    super();
  }

  protected read(name: string) {
    return this.raw[name];
  }

  protected write(name: string, value: string | string[]): void {
    // Node keeps only set-cookie as a list; other repeated fields are one joined string.
    this.raw[name] = Array.isArray(value) && name !== "set-cookie" ? value.join(", ") : value;
  }

  protected remove(name: string): void {
    delete this.raw[name];
  }

  protected names(): string[] {
    return Object.keys(this.raw);
  }
}
