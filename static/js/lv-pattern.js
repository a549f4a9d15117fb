// A search pattern in the browser. The server searches with Python's `regex` (VERSION0) and
// is the judge of what matches: its answer counts the matches. The browser needs its own
// copy of the pattern only to highlight matches in the rows and to test live lines as they
// arrive. toJsRegex() gives the JavaScript RegExp that means the same, or null when it
// cannot be sure (possessive repeats, atomic groups, POSIX classes, mid-pattern flags...):
// then the viewer asks the server about live lines instead (lv-catchup.js) and the rows go
// without <mark>s, never with wrong ones.
import { plainText } from "./lv-render.js";

const SYNTAX = new Set("^$\\.*+?()[]{}|/".split("")); // escapes of these keep their backslash
const FLAG_PREFIX = /^\(\?([aiLmsu]+)\)/; // (?x), (?f) and (?V1) the server refuses anyway

// Python spellings JavaScript writes differently, outside and inside [...]:
//   \A, \Z            start and end of the text (no `m` flag can change them)
//   (?P<name>...)     (?<name>...);  (?P=name) is \k<name>
//   x{,3}             x{0,3} (JavaScript would read "{,3}" as text)
//   \- \_ \: ...      an escaped non-syntax character is that character (`u` mode refuses them)
//   []abc] [^]abc]    a first `]` is a member
// Returns null for what has no faithful translation here: POSIX classes ([[:alpha:]]).
function fromPython(source) {
  let out = "";
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === "\\") {
      const next = source[i + 1];
      if (next === undefined) return null;
      i += 1;
      if (!inClass && next === "A") out += "(?<![\\s\\S])";
      else if (!inClass && next === "Z") out += "(?![\\s\\S])";
      else if (/[0-9A-Za-z]/.test(next) || SYNTAX.has(next) || (inClass && next === "-")) out += ch + next;
      else out += next;
      continue;
    }
    if (inClass) {
      if (ch === "[" && source[i + 1] === ":") return null;
      if (ch === "]") inClass = false;
      out += ch;
      continue;
    }
    if (ch === "[") {
      inClass = true;
      out += ch;
      if (source[i + 1] === "^") out += source[++i];
      if (source[i + 1] === "]") {
        out += "\\]";
        i += 1;
      }
      continue;
    }
    const rest = source.slice(i, i + 40);
    const reference = /^\(\?P=(\w+)\)/.exec(rest);
    if (reference) {
      out += `\\k<${reference[1]}>`;
      i += reference[0].length - 1;
    } else if (rest.startsWith("(?P<")) {
      out += "(?<";
      i += 3;
    } else if (/^\{,\d+\}/.test(rest)) {
      out += "{0";
    } else {
      out += ch;
    }
  }
  return out;
}

// The JavaScript version of the server's pattern `q` (global, Unicode), or null.
export function toJsRegex(q) {
  if (!q) return null;
  let flags = "gu";
  let source = q;
  const inline = source.match(FLAG_PREFIX);
  if (inline) {
    source = source.slice(inline[0].length);
    if (inline[1].includes("i")) flags += "i";
    if (inline[1].includes("m")) flags += "m";
    if (inline[1].includes("s")) flags += "s";
  }
  const translated = fromPython(source);
  if (translated === null) return null;
  try {
    return new RegExp(translated, flags);
  } catch {
    return null; // the server may still accept it: it answers for the browser
  }
}

// Whether a line matches, as the server decides it: on the text a person sees.
export function testLine(re, message) {
  if (!re) return false;
  re.lastIndex = 0;
  return re.test(plainText(message));
}
