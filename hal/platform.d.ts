/**
 * The language level of the Espruino interpreter beyond ES5, for type-checking firmware/ and hal/.
 *
 * The device tsconfig uses `lib: ["es5", "es2015.promise"]` and adds only what
 * ../shared/docs/espruino-platform.md measured as working, so using a missing API (Map, Set,
 * Array.from, Number.isInteger, Object.freeze, Symbol…) is a compile error here before the build's
 * compatibility gate would reject it.
 */

interface ObjectConstructor {
  assign<T extends object, U>(target: T, source: U): T & U;
  entries<T>(o: { [s: string]: T }): [string, T][];
  values<T>(o: { [s: string]: T }): T[];
  setPrototypeOf(o: object, proto: object | null): object;
}

interface Array<T> {
  find(predicate: (value: T, index: number, obj: T[]) => unknown): T | undefined;
  findIndex(predicate: (value: T, index: number, obj: T[]) => unknown): number;
  includes(searchElement: T, fromIndex?: number): boolean;
  fill(value: T, start?: number, end?: number): this;
}

interface String {
  padStart(maxLength: number, fillString?: string): string;
  padEnd(maxLength: number, fillString?: string): string;
  startsWith(searchString: string, position?: number): boolean;
  endsWith(searchString: string, endPosition?: number): boolean;
  includes(searchString: string, position?: number): boolean;
  repeat(count: number): string;
  replaceAll(searchValue: string | RegExp, replaceValue: string): string;
}

interface Uint8Array {
  fill(value: number, start?: number, end?: number): this;
}
