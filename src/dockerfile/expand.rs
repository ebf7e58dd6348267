//! Variable expansion and quote removal with docker's rules (BuildKit's shell lexer):
//! `$V`, `${V}`, `${V:-x}`, `${V-x}`, `${V:+x}`, `${V+x}`, `${V:?msg}`, `${V#pat}`,
//! `${V%pat}` (and their greedy `##`/`%%` forms), `${V/pat/repl}`, escaped `\$`,
//! single quotes literal, double quotes expanding.
//!
//! [`word`] gives one string (spaces kept), [`heredoc`] expands a `COPY <<EOF` body,
//! [`words`] splits the result into words the way
//! BuildKit's `ProcessWords` does: at unquoted whitespace, including whitespace that came
//! out of an unquoted variable, while quoted text and escaped characters never split.

/// The most bytes expansion may make a word, unless the word is longer as written. Without
/// a bound, ARGs that double at each line (`ARG B=$A$A`) reach gigabytes in 40 lines.
pub const MAX_WORD_BYTES: usize = 1 << 20;

/// An expansion that failed (`${V:?msg}`, unterminated `${` or quote).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// Expands one raw word: variables substituted from `lookup`, quotes and escapes removed.
/// The result is one string even if it contains spaces (WORKDIR, USER, ENV values ...).
pub fn word(
    raw: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    Ok(Lexer::new(raw, escape, lookup).run()?.0)
}

/// Expands the body of a heredoc whose delimiter is unquoted (`COPY <<EOF`), as BuildKit's
/// `ExpandRaw` does: variables are substituted everywhere, inside single and double
/// quotes too, and the quotes stay; `\` (whatever the escape directive says) escapes the
/// next character and is removed, so `\$X` gives `$X` and a `\` ending a line joins it
/// to the next.
pub fn heredoc(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut lexer = Lexer::new(raw, '\\', lookup);
    lexer.quotes = false;
    Ok(lexer.run()?.0)
}

/// Expands a raw string and splits it into words at unquoted whitespace (after expansion,
/// as docker does for EXPOSE, VOLUME and COPY sources written in one string).
pub fn words(
    raw: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    Ok(Lexer::new(raw, escape, lookup).run()?.1)
}

/// Collects words as characters arrive; mirrors BuildKit's `wordsStruct`.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    /// An unquoted character: whitespace ends the current word.
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    /// A quoted or escaped character: never splits.
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

/// The scanner state over one raw string.
struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    /// Keep escape characters in the output (pattern words of `${V#pat}` and friends,
    /// where the pattern matcher interprets them).
    raw_escapes: bool,
    /// Whether quotes are syntax (removed, single quotes literal); off for heredoc bodies.
    quotes: bool,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The most bytes any text the lexer builds may have: [`MAX_WORD_BYTES`], or the
    /// length of the raw input if that is more.
    max_bytes: usize,
}

impl<'a> Lexer<'a> {
    fn new(raw: &str, escape: char, lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Lexer {
            chars: raw.chars().collect(),
            pos: 0,
            escape,
            raw_escapes: false,
            quotes: true,
            lookup,
            max_bytes: MAX_WORD_BYTES.max(raw.len()),
        }
    }

    /// Fails once a text being built holds more than `max_bytes`.
    fn bounded(&self, text: &str) -> Result<(), ExpandError> {
        if text.len() > self.max_bytes {
            return Err(ExpandError(format!(
                "the word expands to more than {} MiB",
                MAX_WORD_BYTES >> 20
            )));
        }
        Ok(())
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn run(mut self) -> Result<(String, Vec<String>), ExpandError> {
        self.process_until(None, false)
    }

    /// Processes up to `stop` (consumed) or the end; returns the text and its words.
    fn process_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let out = self.process_until_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn process_until_inner(
        &mut self,
        stop: Option<char>,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    self.bounded(&result)?;
                    words.add_string(&value);
                }
                '\'' if self.quotes => {
                    let value = self.single_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '"' if self.quotes => {
                    let value = self.double_quote()?;
                    result.push_str(&value);
                    self.bounded(&result)?;
                    words.add_raw_string(&value);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // An escape at the very end is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(ExpandError(format!(
                "unexpected end of statement while looking for matching {stop}"
            ))),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quote(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut result = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    ))
                }
                Some('\'') => return Ok(result),
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut result = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    ))
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(result);
                }
                Some('$') => {
                    result.push_str(&self.dollar()?);
                    self.bounded(&result)?;
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            // Only these can be escaped inside double quotes; any other
                            // escape character stays as written.
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                ch = next;
                                self.pos += 1;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn env(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// `$NAME`, `${NAME}` or `${NAME<modifier>word}`, the `$` being the current char.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.env(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(missing_brace()),
            Some('{' | '}' | ':') => {
                return Err(ExpandError("syntax error: bad substitution".into()))
            }
            Some(_) => {}
        }
        let name = self.name();
        let Some(mut ch) = self.next() else {
            return Err(missing_brace());
        };
        let mut modifier = ch.to_string();
        match ch {
            '}' => Ok(self.env(&name).unwrap_or_default()),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = ch == ':';
                if null_is_unset {
                    let Some(next) = self.next() else {
                        return Err(missing_brace());
                    };
                    ch = next;
                    modifier.push(ch);
                }
                let raw_escapes = ch == '#' || ch == '%';
                let word = self.braced_word('}', raw_escapes, missing_brace)?;
                let value = self.env(&name);
                let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
                match ch {
                    '-' => Ok(if unset {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if unset { String::new() } else { word }),
                    '?' => {
                        if unset {
                            let message = if !word.is_empty() {
                                word
                            } else if value.is_none() {
                                "is not allowed to be unset".into()
                            } else {
                                "is not allowed to be empty".into()
                            };
                            Err(ExpandError(format!("{name}: {message}")))
                        } else {
                            Ok(value.unwrap_or_default())
                        }
                    }
                    '#' | '%' if !null_is_unset => {
                        let value = value.unwrap_or_default();
                        let (greedy, pattern) = match word.strip_prefix(ch) {
                            Some(rest) => (true, rest),
                            None => (false, word.as_str()),
                        };
                        let pattern = Pattern::parse(pattern)?;
                        Ok(if ch == '#' {
                            pattern.trim_prefix(&value, greedy)
                        } else {
                            pattern.trim_suffix(&value, greedy)
                        })
                    }
                    _ => Err(unsupported(&modifier)),
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let pattern = self.braced_word('/', true, || {
                    ExpandError("syntax error: missing '/' in ${}".into())
                })?;
                let replacement = self.braced_word('}', true, missing_brace)?;
                let value = self.env(&name).unwrap_or_default();
                Ok(Pattern::parse(&pattern)?.replace(&value, &replacement, all))
            }
            _ => Err(unsupported(&modifier)),
        }
    }

    /// The word of a `${...}` modifier, up to `stop`; running out of input is `eof_error`.
    fn braced_word(
        &mut self,
        stop: char,
        raw_escapes: bool,
        eof_error: fn() -> ExpandError,
    ) -> Result<String, ExpandError> {
        match self.process_until(Some(stop), raw_escapes) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(eof_error()),
            Err(e) => Err(e),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one special
    /// parameter character (`$@`, `$*`, ...), as the shell reads them.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

fn missing_brace() -> ExpandError {
    ExpandError("syntax error: missing '}'".into())
}

fn unsupported(modifier: &str) -> ExpandError {
    ExpandError(format!("unsupported modifier ({modifier}) in substitution"))
}

/// A shell pattern of `${V#pat}`, `${V%pat}` and `${V/pat/repl}`: `*`, `?`, and `\`
/// escaping the next character (no bracket expressions, as in BuildKit).
#[derive(Debug)]
struct Pattern(Vec<PatToken>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum PatToken {
    Literal(char),
    AnyOne,
    AnyRun,
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, ExpandError> {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => PatToken::AnyRun,
                '?' => PatToken::AnyOne,
                '\\' => match chars.next() {
                    Some(e @ ('*' | '?' | '\\' | '}' | '/')) => PatToken::Literal(e),
                    Some(e) => {
                        return Err(ExpandError(format!(
                            "invalid pattern ({text}) in substitution: invalid escape '\\{e}'"
                        )))
                    }
                    None => PatToken::Literal('\\'),
                },
                c => PatToken::Literal(c),
            });
        }
        Ok(Pattern(tokens))
    }

    /// Which prefixes of `s` the whole pattern matches: `ends[n]` says whether `s[..n]`
    /// does. A set-of-positions simulation, O(pattern × text): backtracking over `*`s
    /// (what this was) is exponential in their number, and a fuzzed `${V#****…?z}` took
    /// minutes.
    fn matching_prefixes(tokens: &[PatToken], s: &[char]) -> Vec<bool> {
        let n = tokens.len();
        // A `*` matches nothing too: the state after it is live whenever its own is.
        let close = |states: &mut [bool]| {
            for i in 0..n {
                if states[i] && tokens[i] == PatToken::AnyRun {
                    states[i + 1] = true;
                }
            }
        };
        // states[i]: the first i tokens match the text read so far.
        let mut states = vec![false; n + 1];
        states[0] = true;
        close(&mut states);
        let mut ends = Vec::with_capacity(s.len() + 1);
        ends.push(states[n]);
        for &c in s {
            let mut next = vec![false; n + 1];
            for (i, token) in tokens.iter().enumerate().filter(|&(i, _)| states[i]) {
                match *token {
                    PatToken::AnyRun => next[i] = true,
                    PatToken::AnyOne => next[i + 1] = true,
                    PatToken::Literal(l) if l == c => next[i + 1] = true,
                    PatToken::Literal(_) => {}
                }
            }
            close(&mut next);
            states = next;
            if !states.contains(&true) {
                ends.resize(s.len() + 1, false);
                return ends;
            }
            ends.push(states[n]);
        }
        ends
    }

    fn trim_prefix(&self, value: &str, greedy: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let ends = Self::matching_prefixes(&self.0, &chars);
        let end = if greedy {
            ends.iter().rposition(|&m| m)
        } else {
            ends.iter().position(|&m| m)
        };
        match end {
            Some(end) => chars[end..].iter().collect(),
            None => value.to_owned(),
        }
    }

    fn trim_suffix(&self, value: &str, greedy: bool) -> String {
        // A suffix matches the pattern when, both reversed, it is a prefix that matches.
        let chars: Vec<char> = value.chars().collect();
        let reversed: Vec<char> = chars.iter().rev().copied().collect();
        let tokens: Vec<PatToken> = self.0.iter().rev().copied().collect();
        let lens = Self::matching_prefixes(&tokens, &reversed);
        let len = if greedy {
            lens.iter().rposition(|&m| m)
        } else {
            lens.iter().position(|&m| m)
        };
        match len {
            Some(len) => chars[..chars.len() - len].iter().collect(),
            None => value.to_owned(),
        }
    }

    /// Replaces the leftmost-longest match (all non-overlapping ones with `all`).
    fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        let mut replaced = false;
        while pos <= chars.len() {
            let found = if replaced && !all {
                None
            } else {
                Self::matching_prefixes(&self.0, &chars[pos..])
                    .iter()
                    .rposition(|&m| m)
                    .map(|len| pos + len)
            };
            match found {
                Some(end) => {
                    out.push_str(replacement);
                    replaced = true;
                    if end > pos {
                        pos = end;
                        continue;
                    }
                }
                None if replaced && !all => {
                    out.extend(&chars[pos..]);
                    break;
                }
                None => {}
            }
            if let Some(&c) = chars.get(pos) {
                out.push(c);
            }
            pos += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PWD" => Some("/home".into()),
            "SHELL" => Some("bash".into()),
            "FOO" => Some("foo".into()),
            "EMPTY" => Some(String::new()),
            "SPACED" => Some("a  b c".into()),
            "PATHV" => Some("/usr/local/bin/tool.tar.gz".into()),
            _ => None,
        }
    }

    fn w(raw: &str) -> String {
        word(raw, '\\', &env).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn ws(raw: &str) -> Vec<String> {
        words(raw, '\\', &env).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn err(raw: &str) -> String {
        word(raw, '\\', &env).unwrap_err().0
    }

    #[test]
    fn plain_variables() {
        assert_eq!(w("hello"), "hello");
        assert_eq!(w("$PWD"), "/home");
        assert_eq!(w("${PWD}"), "/home");
        assert_eq!(w("he$PWD"), "he/home");
        assert_eq!(w("${PWD}x"), "/homex");
        assert_eq!(w("$PWDx"), "");
        assert_eq!(w("$UNSET"), "");
        assert_eq!(w("${UNSET}"), "");
        assert_eq!(w("a$"), "a$");
        assert_eq!(w("$ a"), "$ a");
        assert_eq!(w("$1x"), "x");
        assert_eq!(w("x $SPACED y"), "x a  b c y");
    }

    #[test]
    fn defaults_and_alternatives() {
        assert_eq!(w("${UNSET:-def}"), "def");
        assert_eq!(w("${EMPTY:-def}"), "def");
        assert_eq!(w("${EMPTY-def}"), "");
        assert_eq!(w("${UNSET-def}"), "def");
        assert_eq!(w("${FOO:-def}"), "foo");
        assert_eq!(w("${FOO:+alt}"), "alt");
        assert_eq!(w("${EMPTY:+alt}"), "");
        assert_eq!(w("${EMPTY+alt}"), "alt");
        assert_eq!(w("${UNSET+alt}"), "");
        assert_eq!(w("${UNSET:-${FOO}bar}"), "foobar");
        assert_eq!(w("${UNSET:-${ALSO:-deep}}"), "deep");
        assert_eq!(w("${UNSET:-'a b'}"), "a b");
        assert_eq!(w("${UNSET:-a\\}b}"), "a}b");
        assert_eq!(w("${FOO:?must be set}"), "foo");
    }

    #[test]
    fn required_variables() {
        assert_eq!(err("${UNSET:?must be set}"), "UNSET: must be set");
        assert_eq!(err("${UNSET?}"), "UNSET: is not allowed to be unset");
        assert_eq!(err("${EMPTY:?}"), "EMPTY: is not allowed to be empty");
        assert_eq!(w("${EMPTY?}"), "");
    }

    #[test]
    fn pattern_modifiers() {
        assert_eq!(w("${PATHV#*/}"), "usr/local/bin/tool.tar.gz");
        assert_eq!(w("${PATHV##*/}"), "tool.tar.gz");
        assert_eq!(w("${PATHV%.*}"), "/usr/local/bin/tool.tar");
        assert_eq!(w("${PATHV%%.*}"), "/usr/local/bin/tool");
        assert_eq!(w("${FOO/o/0}"), "f0o");
        assert_eq!(w("${FOO//o/0}"), "f00");
        assert_eq!(w("${FOO/x/0}"), "foo");
        assert_eq!(
            err("${FOO:#x}"),
            "unsupported modifier (:#) in substitution"
        );
        assert_eq!(err("${FOO^x}"), "unsupported modifier (^) in substitution");
    }

    #[test]
    fn quotes() {
        assert_eq!(w("'$PWD'"), "$PWD");
        assert_eq!(w("\"$PWD\""), "/home");
        assert_eq!(w("\"a  b\""), "a  b");
        assert_eq!(w("'a\\b'"), "a\\b");
        assert_eq!(w("\"a\\b\""), "a\\b");
        assert_eq!(w("\"a\\\"b\""), "a\"b");
        assert_eq!(w("\"\\$PWD\""), "$PWD");
        assert_eq!(w("\"a'b\""), "a'b");
        assert_eq!(w("'a\"b'"), "a\"b");
        assert_eq!(w("x\"\"y"), "xy");
    }

    #[test]
    fn escapes() {
        assert_eq!(w("\\$PWD"), "$PWD");
        assert_eq!(w("\\${PWD}"), "${PWD}");
        assert_eq!(w("a\\ b"), "a b");
        assert_eq!(w("\\'a\\'"), "'a'");
        assert_eq!(w("abc\\"), "abc");
        let tick = |raw: &str| word(raw, '`', &env).unwrap();
        assert_eq!(tick("`$PWD"), "$PWD");
        assert_eq!(tick("\\$PWD"), "\\/home");
        assert_eq!(tick("C:\\dir"), "C:\\dir");
        assert_eq!(tick("\"a`\"b\""), "a\"b");
    }

    #[test]
    fn patterns_do_not_backtrack() {
        let value = "a".repeat(60);
        let pattern = format!("{}b", "*a".repeat(25));
        assert_eq!(w(&format!("${{V%{pattern}}}")), "");
        let lookup = |n: &str| (n == "V").then(|| value.clone());
        let trimmed = word(&format!("${{V#{pattern}}}"), '\\', &lookup).unwrap();
        assert_eq!(trimmed, value);
        assert_eq!(word("${V#*a*a}", '\\', &lookup).unwrap(), "a".repeat(58));
        assert_eq!(word("${V##*a*a}", '\\', &lookup).unwrap(), "");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(err("${PWD"), "syntax error: missing '}'");
        assert_eq!(err("${"), "syntax error: missing '}'");
        assert_eq!(err("${}"), "syntax error: bad substitution");
        assert_eq!(err("${:x}"), "syntax error: bad substitution");
        assert_eq!(err("${UNSET:-x"), "syntax error: missing '}'");
        assert_eq!(
            err("'abc"),
            "unexpected end of statement while looking for matching single-quote"
        );
        assert_eq!(
            err("\"abc"),
            "unexpected end of statement while looking for matching double-quote"
        );
    }

    #[test]
    fn heredoc_bodies_keep_quotes_and_expand_inside_them() {
        let h = |raw: &str| heredoc(raw, &env).unwrap_or_else(|e| panic!("{raw}: {e}"));
        // dockerfile_heredoc_test.go: testHeredocVarSubstitution, testCopyHeredocSpecialSymbols.
        assert_eq!(h("Hello '${FOO}'!\n"), "Hello 'foo'!\n");
        assert_eq!(h("Hello \"${FOO}\"!\n"), "Hello \"foo\"!\n");
        assert_eq!(h("\"quotes in file\"\n"), "\"quotes in file\"\n");
        assert_eq!(h("it's\n"), "it's\n");
        assert_eq!(h("\\\n"), "\n");
        assert_eq!(h("\\\\\n"), "\\\n");
        assert_eq!(h("\\$\n"), "$\n");
        assert_eq!(h("a\\tb $UNSET.\n"), "atb .\n");
    }

    #[test]
    fn word_splitting() {
        assert_eq!(ws("a b  c"), ["a", "b", "c"]);
        assert_eq!(ws("  a  "), ["a"]);
        assert_eq!(ws("\"a b\" c"), ["a b", "c"]);
        assert_eq!(ws("x$SPACED"), ["xa", "b", "c"]);
        assert_eq!(ws("\"$SPACED\""), ["a  b c"]);
        assert_eq!(ws("a\\ b c"), ["a b", "c"]);
        assert_eq!(ws("a '' b"), ["a", "b"]);
        assert_eq!(ws("'a'\"b\"c"), ["abc"]);
        assert_eq!(ws("$UNSET"), Vec::<String>::new());
        assert_eq!(ws("80/tcp ${FOO}"), ["80/tcp", "foo"]);
    }
}
