/**
 * The fast path in front of the scanner and the parser, for the frequent messages (result,
 * telemetry, ack, event) and the hello that opens every connection. It reads only "plain" XML — the narrow form our own encoder writes when
 * no value needs escaping — into a compact element (attribute values by position), which holds
 * exactly what fast-xml-parser's tree holds for it (parserShape() rebuilds that tree), so decode.ts
 * runs the very same validation on it. Anything else it does not try to understand: it returns
 * undefined and the frame takes the full path (scanXml, fast-xml-parser), which alone reports
 * errors. The differential test (test/shared/protocol/plain.test.ts) holds the two paths equal.
 *
 * Plain means, all at once:
 * - no XML declaration, no whitespace before, between or after elements, one root;
 * - an element named by its rule, at least one attribute, then `/>` or `>`…`</name>` right after the
 *   last attribute; an element's content is only child elements of its rule's one child name
 *   (hello → dev → ch), or only text when its rule allows text;
 * - attributes written ` name="value"`: one space before, no space around `=`, double quotes, each
 *   name from the element's rule and at most once;
 * - attribute values and text only printable ASCII (U+0020..U+007E) without `"` in values and
 *   without `&`, `<`, `>` anywhere: no references, no line breaks or tabs, nothing to normalise;
 * - at most LIMITS.maxElements elements.
 *
 * Such input is well-formed and within every limit scanXml enforces, names are never reserved
 * words, and attribute values and text mean their literal characters.
 */
import { LIMITS } from './messages.js';

/** One element the plain reader accepts. */
export interface PlainRule {
  readonly name: string;
  /** The attributes it may carry (at most 31); any other makes the frame not plain. */
  readonly attributes: readonly string[];
  /** The one kind of child element it may contain. */
  readonly child?: PlainRule;
  /** Whether it may contain text (then no child element). */
  readonly text?: boolean;
}

/**
 * One element as read: the value of each of its rule's attributes, by position (undefined where
 * absent), its child elements, its text ('' when none). No property is ever added to an object
 * here: building the parser's shape (an object keyed by attribute name) was a third of the reading.
 */
export class PlainElement {
  constructor(
    readonly rule: PlainRule,
    readonly values: readonly (string | undefined)[],
    readonly children: readonly PlainElement[],
    readonly text: string,
  ) {}

  /** The value of attribute `name`, or undefined. */
  attribute(name: string): string | undefined {
    const index = this.rule.attributes.indexOf(name);
    return index === -1 ? undefined : this.values[index];
  }
}

const LT = 0x3c; // <
const GT = 0x3e; // >
const SLASH = 0x2f;
const SPACE = 0x20;
const QUOT = 0x22;
const AMP = 0x26;

function absent(): undefined {
  return undefined;
}

/** Where the last element read ended (one past its `>`); the reader is synchronous, so one will do. */
let end = 0;
/** Elements read in the current frame. */
let elements = 0;

/**
 * The root element of `input` when the whole frame is plain XML under one of `roots`; undefined
 * when it is not (which says nothing about whether the frame is valid).
 */
export function readPlain(input: string, roots: readonly PlainRule[]): PlainElement | undefined {
  if (input.charCodeAt(0) !== LT) return undefined;
  for (const rule of roots) {
    if (!nameAt(input, 1, rule.name)) continue;
    elements = 0;
    const element = readElement(input, 0, rule);
    return element !== undefined && end === input.length ? element : undefined;
  }
  return undefined;
}

/**
 * The tree fast-xml-parser (with decode.ts's options) builds for the same input:
 * `{ [name]: children, ':@': attributes }`, attributes in document order. For the differential test.
 */
export function parserShape(element: PlainElement, order: readonly string[] = element.rule.attributes): Record<string, unknown> {
  const attributes: Record<string, string> = {};
  for (const name of order) {
    const value = element.attribute(name);
    if (value !== undefined) attributes[name] = value;
  }
  const children: unknown[] = element.children.map((child) => parserShape(child));
  if (element.text !== '') children.push({ '#text': element.text });
  return { [element.rule.name]: children, ':@': attributes };
}

/** Whether `name` stands at i, followed by what may follow an element name. */
function nameAt(input: string, i: number, name: string): boolean {
  if (!input.startsWith(name, i)) return false;
  const c = input.charCodeAt(i + name.length);
  return c === SPACE || c === SLASH || c === GT;
}

/** Reads the element at i (`<` + rule.name, already matched); sets `end`. */
function readElement(input: string, i: number, rule: PlainRule): PlainElement | undefined {
  if (++elements > LIMITS.maxElements) return undefined;
  const names = rule.attributes;
  // Exactly as long as the list of names, and packed (no holes that would read through to the prototype).
  const values: (string | undefined)[] = names.map(absent);
  let seen = 0;
  let j = i + 1 + rule.name.length;
  let c = input.charCodeAt(j);
  while (c === SPACE) {
    const index = attributeAt(input, j + 1, rule.attributes);
    if (index < 0 || (seen & (1 << index)) !== 0) return undefined;
    seen |= 1 << index;
    const from = j + 1 + (names[index] ?? '').length + 2;
    const to = valueEnd(input, from);
    if (to < 0) return undefined;
    values[index] = input.slice(from, to);
    j = to + 1;
    c = input.charCodeAt(j);
  }
  // fast-xml-parser leaves out ':@' when there are no attributes; every plain element has some.
  if (seen === 0) return undefined;
  const children: PlainElement[] = [];
  let text = '';
  if (c === SLASH) {
    if (input.charCodeAt(j + 1) !== GT) return undefined;
    j += 2;
  } else if (c === GT) {
    j++;
    if (rule.text === true) {
      const to = textEnd(input, j);
      if (to < 0) return undefined;
      text = input.slice(j, to);
      j = to;
    } else if (rule.child !== undefined) {
      const child = rule.child;
      while (input.charCodeAt(j) === LT && input.charCodeAt(j + 1) !== SLASH) {
        if (!nameAt(input, j + 1, child.name)) return undefined;
        const element = readElement(input, j, child);
        if (element === undefined) return undefined;
        children.push(element);
        j = end;
      }
    }
    // The end tag, exactly `</name>`.
    if (input.charCodeAt(j) !== LT || input.charCodeAt(j + 1) !== SLASH || !input.startsWith(rule.name, j + 2)) return undefined;
    j += 2 + rule.name.length;
    if (input.charCodeAt(j) !== GT) return undefined;
    j++;
  } else {
    return undefined;
  }
  end = j;
  return new PlainElement(rule, values, children, text);
}

/** The index in `names` of the attribute name at i followed by `="`, or -1. */
function attributeAt(input: string, i: number, names: readonly string[]): number {
  // Find the `=` first, so only names of the right length are compared.
  const equals = input.indexOf('=', i);
  if (equals === -1 || input.charCodeAt(equals + 1) !== QUOT) return -1;
  const length = equals - i;
  for (let k = 0; k < names.length; k++) {
    const name = names[k] ?? '';
    if (name.length === length && input.startsWith(name, i)) return k;
  }
  return -1;
}

/** The index of the closing `"` of a plain attribute value starting at i, or -1. */
function valueEnd(input: string, i: number): number {
  const n = input.length;
  for (; i < n; i++) {
    const c = input.charCodeAt(i);
    if (c === QUOT) return i;
    if (c < SPACE || c > 0x7e || c === AMP || c === LT || c === GT) return -1;
  }
  return -1;
}

/** The index of the `<` that ends plain text starting at i, or -1. */
function textEnd(input: string, i: number): number {
  const n = input.length;
  for (; i < n; i++) {
    const c = input.charCodeAt(i);
    if (c === LT) return i;
    if (c < SPACE || c > 0x7e || c === AMP || c === GT) return -1;
  }
  return -1;
}
