//! Glob patterns over paths: the one matcher behind COPY sources (Go's `filepath.Match`,
//! one component at a time) and `.dockerignore` (moby/patternmatcher, whole paths with
//! `**`).
//!
//! Both dialects share `*` and `?` (never across `/`), `\` escapes and `[...]` classes
//! (only `^` negates; a class may match `/`). They differ in what they accept:
//! [`Pattern::go`] refuses a malformed pattern (a COPY source pattern that matches nothing,
//! as BuildKit ignores the error), [`Pattern::docker`] reads `**` across directories and
//! takes what does not parse literally, as the regular expression patternmatcher builds
//! would. A [`Pattern`] is a list of tokens matched by a set-of-positions simulation
//! (O(pattern × text), no backtracking), so `**/**/**/…` costs no more than `*`.

/// A compiled glob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

/// A piece of a compiled glob.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// One literal character.
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters without `/`.
    Star,
    /// `**` followed by more pattern: nothing, or anything ending in `/`.
    DirStar,
    /// `**` at the end of the pattern: anything.
    Rest,
    /// `[...]`: a character class.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Pattern {
    /// Compiles `pattern` as Go's `filepath.Match` reads it; `None` when it is malformed:
    /// a trailing `\`, an unclosed class, or in a class a leading `]` or an unescaped `-`
    /// outside a range. `**` is two stars.
    #[must_use]
    pub fn go(pattern: &str) -> Option<Pattern> {
        Pattern::compile(pattern, true)
    }

    /// Compiles a `.dockerignore` pattern as moby/patternmatcher reads it: `**` matches
    /// any number of directories (`**/` is read as `**`), a malformed class is a literal
    /// `[`, a trailing `\` a literal `\`, and a class is read as a regular expression
    /// reads it (a leading `]` or a stray `-` is a member).
    #[must_use]
    pub fn docker(pattern: &str) -> Pattern {
        Pattern::compile(pattern, false)
            .expect("the Docker reading takes every pattern, malformed parts literally")
    }

    /// Compiles `pattern` in Go's reading (`go`) or patternmatcher's; `None` when it is
    /// malformed (only in Go's).
    fn compile(pattern: &str, go: bool) -> Option<Pattern> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' if !go && chars.get(i) == Some(&'*') => {
                    i += 1;
                    // `**/` is read as `**`.
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    tokens.push(if i == chars.len() {
                        Token::Rest
                    } else {
                        Token::DirStar
                    });
                }
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::One),
                '\\' => match chars.get(i) {
                    Some(&next) => {
                        tokens.push(Token::Literal(next));
                        i += 1;
                    }
                    None if go => return None,
                    None => tokens.push(Token::Literal('\\')),
                },
                '[' => match parse_class(&chars[i..], go) {
                    Some((token, used)) => {
                        tokens.push(token);
                        i += used;
                    }
                    None if go => return None,
                    None => tokens.push(Token::Literal('[')),
                },
                c => tokens.push(Token::Literal(c)),
            }
        }
        Some(Pattern { tokens })
    }

    /// Whether the pattern matches all of `text`.
    #[must_use]
    pub fn matches(&self, text: &[char]) -> bool {
        self.run(text, false, &[text.len()])
    }

    /// Whether the pattern matches all of `text[..end]` for one of `ends`: one pass for
    /// a path and all of its parent directories (`.dockerignore` matches each).
    #[must_use]
    pub fn matches_a_prefix(&self, text: &[char], ends: &[usize]) -> bool {
        self.run(text, false, ends)
    }

    /// Whether `text` can be the beginning of something the pattern matches (a walk may
    /// find a match below the directory `text`).
    #[must_use]
    pub fn could_match_prefix(&self, text: &[char]) -> bool {
        self.run(text, true, &[text.len()])
    }

    /// The simulation: `at[j]` says whether the tokens so far can consume exactly
    /// `text[..j]`. Each token maps that set to the next in one pass over the text. With
    /// `prefix`, reaching the end of the text with tokens left counts as a match. The
    /// result is whether the whole pattern consumes `text[..end]` for one of `ends`.
    fn run(&self, text: &[char], prefix: bool, ends: &[usize]) -> bool {
        let n = text.len();
        let mut at = vec![false; n + 1];
        at[0] = true;
        let mut next = vec![false; n + 1];
        for token in &self.tokens {
            if prefix && at[n] {
                return true;
            }
            next.fill(false);
            match token {
                Token::Literal(_) | Token::One | Token::Class { .. } => {
                    for j in 0..n {
                        next[j + 1] = at[j] && token.accepts(text[j]);
                    }
                }
                Token::Star => {
                    for j in 0..=n {
                        next[j] = at[j] || (j > 0 && next[j - 1] && text[j - 1] != '/');
                    }
                }
                Token::DirStar => {
                    // Nothing, or any run ending in `/` from a reached position.
                    let mut reached = false;
                    for j in 0..=n {
                        if j > 0 {
                            reached |= at[j - 1];
                        }
                        next[j] = at[j] || (reached && text[j - 1] == '/');
                    }
                }
                Token::Rest => {
                    let Some(first) = at.iter().position(|&b| b) else {
                        return false;
                    };
                    next[first..].fill(true);
                }
            }
            std::mem::swap(&mut at, &mut next);
            if !at.contains(&true) {
                return false;
            }
        }
        ends.iter().any(|&end| at[end])
    }
}

impl Token {
    /// Whether a one-character token accepts `c`.
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::One => c != '/',
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            Token::Star | Token::DirStar | Token::Rest => false,
        }
    }
}

/// Go's `filepath.Match` of one path component. A malformed pattern matches nothing
/// (BuildKit ignores the error the same way).
#[must_use]
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    Pattern::go(pattern).is_some_and(|p| p.matches(&name))
}

/// Parses the inside of `[...]` (after the `[`); returns the token and characters used,
/// or `None` if it is malformed (`go`: in Go's stricter reading).
fn parse_class(chars: &[char], go: bool) -> Option<(Token, usize)> {
    let mut i = 0;
    let negated = chars.first() == Some(&'^');
    if negated {
        i += 1;
    }
    // One class character: escaped, or (for Go) anything but `-` and `]`.
    let member = |i: &mut usize| -> Option<char> {
        let c = *chars.get(*i)?;
        *i += 1;
        match c {
            '\\' => {
                let c = *chars.get(*i)?;
                *i += 1;
                Some(c)
            }
            '-' | ']' if go => None,
            c => Some(c),
        }
    };
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        if chars.get(i) == Some(&']') && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        let lo = member(&mut i)?;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&n| n != ']') {
            i += 1;
            hi = member(&mut i)?;
        }
        ranges.push((lo, hi));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(pattern: &str, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        Pattern::docker(pattern).matches(&text)
    }

    #[test]
    fn go_syntax_follows_filepath_match() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "a.txt.bak"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("[\\]]", "]"));
        assert!(glob_match("[a\\-c]", "-"));
        assert!(!glob_match("[a\\-c]", "b"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("\\*", "a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("**", "abc"), "** is two stars");
        assert!(glob_match("a*b*c", "aXbYbZc"));
    }

    #[test]
    fn go_syntax_refuses_malformed_patterns() {
        for pattern in [
            "[]a]", "[a-", "[a-]", "[-a]", "[a--]", "\\", "a[", "[^", "x[a\\",
        ] {
            assert!(Pattern::go(pattern).is_none(), "{pattern}");
            assert!(!glob_match(pattern, "a"), "{pattern}");
        }
    }

    #[test]
    fn docker_syntax_reads_classes_as_regexes_do() {
        assert!(docker("[]a]", "]"));
        assert!(docker("[]a]", "a"));
        assert!(docker("[a-]", "-"));
        assert!(docker("[^a]", "/"), "a negated class matches /");
        assert!(docker("[a-", "[a-"), "a malformed class is literal");
        assert!(docker("a\\", "a\\"), "a trailing backslash is literal");
    }

    #[test]
    fn docker_syntax_double_star_crosses_directories() {
        assert!(docker("**", "a/b/c"));
        assert!(docker("**", ""));
        assert!(docker("a/**", "a/x/y"));
        assert!(docker("a/**/b", "a/b"));
        assert!(docker("a/**/b", "a/x/y/b"));
        assert!(!docker("a/**/b", "ab"));
        assert!(docker("**/*.md", "README.md"));
        assert!(docker("**/*.md", "a/b/README.md"));
        assert!(!docker("*.md", "a/README.md"));
        assert!(!docker("f?o", "f/o"));
        assert!(!docker("f*o", "f/o"));
    }

    #[test]
    fn prefixes_may_match_below() {
        let pattern = Pattern::docker("docs/keep/*.md");
        let text = |s: &str| s.chars().collect::<Vec<_>>();
        assert!(pattern.could_match_prefix(&text("docs/")));
        assert!(pattern.could_match_prefix(&text("docs/keep/")));
        assert!(pattern.could_match_prefix(&text("")));
        assert!(!pattern.could_match_prefix(&text("docs/other/")));
        assert!(!pattern.could_match_prefix(&text("src/")));
    }

    #[test]
    fn nested_stars_do_not_backtrack() {
        // Exponential for a backtracking matcher: 40 `**/` and a text that almost matches.
        let pattern = format!("{}x", "**/".repeat(40));
        let text = format!("{}y", "a/".repeat(200));
        assert!(!docker(&pattern, &text));
        assert!(docker(&pattern, &format!("{}x", "a/".repeat(200))));
        let stars = format!("{}b", "*a".repeat(30));
        assert!(!glob_match(&stars, &"a".repeat(200)));
        assert!(glob_match(&stars, &format!("{}b", "a".repeat(200))));
    }
}
