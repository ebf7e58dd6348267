//! Just enough of a POSIX shell parser to find the commands of a RUN and their arguments,
//! each word with its byte offset in the Dockerfile (so findings point at the exact word).
//!
//! [`split`] reads source text (a RUN's shell form, or a heredoc body) and returns the
//! simple [`Cmd`]s in order, each with the operator that joins it to the previous one
//! (`&&`, `||`, `;`, `|`, newline). Quotes are removed from word text; `$(...)` and
//! backquotes stay inside their word; redirections, leading `VAR=value` assignments and
//! shell keywords (`if`, `then`, `do`, `{`, ...) are dropped. Dockerfile line
//! continuations (escape + newline), and the comment lines docker skips inside them, are
//! whitespace. This is not a shell: it never expands anything, and a construct it does not
//! know only makes a rule miss, never crash.

/// One word of a command: its text with quotes removed, and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    /// The text, unquoted (`"a b"` is `a b`).
    pub text: String,
    /// Byte offset of the first character in the Dockerfile source.
    pub offset: usize,
    /// Length in bytes in the source.
    pub len: usize,
}

/// How a command is joined to the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// The first command of the script.
    Start,
    /// `&&`.
    And,
    /// `||`.
    Or,
    /// `;`, `&`, a newline or a parenthesis.
    Seq,
    /// `|`: this command reads the previous one's output.
    Pipe,
}

/// One simple command: the program and its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Cmd {
    /// How it follows the previous command.
    pub join: Join,
    /// Whether it runs inside `( ... )` (a `cd` there ends with the subshell).
    pub subshell: bool,
    /// The words, program first; assignments, redirections and keywords removed.
    pub words: Vec<Word>,
}

impl Cmd {
    /// The program run, past `sudo`, `env` and their options (so `sudo apt-get` is
    /// apt-get), as an index into `words`.
    pub fn program_index(&self) -> usize {
        let mut i = 0;
        while let Some(w) = self.words.get(i) {
            match w.text.as_str() {
                "sudo" | "env" | "nice" | "nohup" | "time" | "exec" | "command" => i += 1,
                t if i > 0 && (t.starts_with('-') || t.contains('=')) => i += 1,
                _ => break,
            }
        }
        i
    }

    /// The program's name without its directory (`/usr/bin/pip3` is `pip3`).
    pub fn program(&self) -> &str {
        self.words
            .get(self.program_index())
            .map_or("", |w| w.text.rsplit('/').next().unwrap_or(""))
    }

    /// The arguments after the program.
    pub fn args(&self) -> &[Word] {
        self.words
            .get(self.program_index() + 1..)
            .unwrap_or_default()
    }

    /// Whether any argument is exactly one of `flags`.
    pub fn has_flag(&self, flags: &[&str]) -> bool {
        self.args().iter().any(|w| flags.contains(&w.text.as_str()))
    }

    /// The first argument that is not an option, with its index in `args()`.
    pub fn subcommand(&self) -> Option<(usize, &Word)> {
        self.args()
            .iter()
            .enumerate()
            .find(|(_, w)| !w.text.starts_with('-'))
    }
}

/// Words that open or close shell compound commands: skipped where a command starts.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "in", "case",
    "esac", "{", "}", "!", "function",
];

/// Splits `text[start..end]` into commands; `escape` is the Dockerfile escape character.
pub fn split(text: &str, start: usize, end: usize, escape: char) -> Vec<Cmd> {
    let mut lexer = Lexer {
        text,
        pos: start,
        end,
        escape,
        cmds: Vec::new(),
        words: Vec::new(),
        join: Join::Start,
        depth: 0,
        cmd_depth: 0,
    };
    lexer.run();
    lexer.cmds
}

/// The state of one [`split`].
struct Lexer<'t> {
    text: &'t str,
    pos: usize,
    end: usize,
    escape: char,
    cmds: Vec<Cmd>,
    words: Vec<Word>,
    join: Join,
    /// Open parentheses (subshells) around the current position.
    depth: usize,
    /// `depth` when the current command's first word was read.
    cmd_depth: usize,
}

impl Lexer<'_> {
    fn peek(&self, at: usize) -> Option<char> {
        if at < self.end {
            self.text[at..self.end].chars().next()
        } else {
            None
        }
    }

    /// If a Dockerfile line continuation starts at `at`, the offset just past it (and
    /// past the blank and comment lines docker skips inside a continuation).
    fn continuation(&self, at: usize) -> Option<usize> {
        let rest = &self.text[at..self.end];
        let after = rest.strip_prefix(self.escape)?;
        let blanks = after.len() - after.trim_start_matches([' ', '\t']).len();
        let after = &after[blanks..];
        let after = after
            .strip_prefix("\r\n")
            .or_else(|| after.strip_prefix('\n'))?;
        let mut next = self.end - after.len();
        loop {
            let line = &self.text[next..self.end];
            let eol = line.find('\n').map_or(line.len(), |i| i + 1);
            let trimmed = line[..eol].trim_start();
            if (trimmed.is_empty() || trimmed.starts_with('#'))
                && eol > 0
                && line[..eol].ends_with('\n')
            {
                next += eol;
            } else {
                return Some(next);
            }
        }
    }

    /// The character at `pos`, past any line continuation there.
    fn current(&mut self) -> Option<char> {
        if self.pos >= self.end {
            return None;
        }
        if let Some(next) = self.continuation(self.pos) {
            self.pos = next;
        }
        self.peek(self.pos)
    }

    fn finish_command(&mut self, next: Join) {
        let words = std::mem::take(&mut self.words);
        let words: Vec<Word> = words
            .into_iter()
            .skip_while(|w| is_assignment(&w.text) || KEYWORDS.contains(&w.text.as_str()))
            .collect();
        if !words.is_empty() {
            self.cmds.push(Cmd {
                join: self.join,
                subshell: self.cmd_depth > 0,
                words,
            });
            self.join = next;
        } else if !self.cmds.is_empty() && next != Join::Seq {
            // `fi && x`, `} || y`: the operator after a keyword joins the next command.
            self.join = next;
        }
    }

    fn run(&mut self) {
        let mut skip_next_word = false;
        while let Some(c) = self.current() {
            match c {
                ' ' | '\t' | '\r' => self.pos += 1,
                '\n' => {
                    self.pos += 1;
                    self.finish_command(Join::Seq);
                }
                '#' => {
                    let rest = &self.text[self.pos..self.end];
                    self.pos += rest.find('\n').unwrap_or(rest.len());
                }
                '&' | '|' | ';' | '(' | ')' => {
                    let two = self.text[self.pos..self.end].get(..2).unwrap_or("");
                    let (join, len) = match (c, two) {
                        (_, "&&") => (Join::And, 2),
                        (_, "||") => (Join::Or, 2),
                        (_, "|&") => (Join::Pipe, 2),
                        (_, ";;") => (Join::Seq, 2),
                        ('|', _) => (Join::Pipe, 1),
                        _ => (Join::Seq, 1),
                    };
                    self.pos += len;
                    self.finish_command(join);
                    match c {
                        '(' => self.depth += 1,
                        ')' => self.depth = self.depth.saturating_sub(1),
                        _ => {}
                    }
                }
                '<' | '>' => {
                    // A redirection: `>f`, `> f`, `2>&1`, `<<EOF`; its target is no argument.
                    let start = self.pos;
                    while matches!(self.peek(self.pos), Some('<' | '>' | '&' | '-')) {
                        self.pos += 1;
                    }
                    if self.pos - start >= 1
                        && matches!(self.peek(self.pos), Some(' ' | '\t') | None)
                    {
                        skip_next_word = true;
                    } else {
                        self.word();
                        self.words.pop();
                    }
                }
                _ => {
                    let digits_then_redirect = {
                        let rest = &self.text[self.pos..self.end];
                        let n = rest.len()
                            - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                        n > 0 && matches!(rest[n..].chars().next(), Some('<' | '>'))
                    };
                    if digits_then_redirect {
                        while matches!(self.peek(self.pos), Some('0'..='9')) {
                            self.pos += 1;
                        }
                        continue;
                    }
                    self.word();
                    if skip_next_word {
                        self.words.pop();
                        skip_next_word = false;
                    }
                }
            }
        }
        self.finish_command(Join::Seq);
    }

    /// Reads one word at `pos`, quotes removed, and pushes it.
    fn word(&mut self) {
        if self.words.is_empty() {
            self.cmd_depth = self.depth;
        }
        let start = self.pos;
        let mut text = String::new();
        let mut depth = 0usize;
        while let Some(c) = self.current() {
            match c {
                ' ' | '\t' | '\n' | '\r' | ';' | '&' | '|' | '<' | '>' | '(' | ')'
                    if depth == 0 =>
                {
                    break
                }
                '\'' => {
                    let rest = &self.text[self.pos + 1..self.end];
                    let close = rest.find('\'').unwrap_or(rest.len());
                    text.push_str(&rest[..close]);
                    self.pos += close + 2;
                }
                '"' => {
                    self.pos += 1;
                    while let Some(q) = self.peek(self.pos) {
                        if let Some(next) = self.continuation(self.pos) {
                            self.pos = next;
                            continue;
                        }
                        self.pos += q.len_utf8();
                        match q {
                            '"' => break,
                            '\\' => {
                                if let Some(e) = self.peek(self.pos) {
                                    text.push(e);
                                    self.pos += e.len_utf8();
                                }
                            }
                            _ => text.push(q),
                        }
                    }
                }
                '\\' => {
                    self.pos += 1;
                    if let Some(e) = self.peek(self.pos) {
                        text.push(e);
                        self.pos += e.len_utf8();
                    }
                }
                '$' if self.peek(self.pos + 1) == Some('(') => {
                    depth += 1;
                    text.push_str("$(");
                    self.pos += 2;
                }
                ')' => {
                    depth -= 1;
                    text.push(')');
                    self.pos += 1;
                }
                '(' => {
                    depth += 1;
                    text.push('(');
                    self.pos += 1;
                }
                _ => {
                    text.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        self.pos = self.pos.min(self.end);
        self.words.push(Word {
            text,
            offset: start,
            len: self.pos - start,
        });
    }
}

/// `NAME=value` before a command sets its environment.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(text: &str) -> Vec<(Join, Vec<String>)> {
        split(text, 0, text.len(), '\\')
            .into_iter()
            .map(|c| (c.join, c.words.into_iter().map(|w| w.text).collect()))
            .collect()
    }

    #[test]
    fn splits_operators_continuations_and_quotes() {
        let text = "apt-get update \\\n  # comment\n  && DEBIAN_FRONTEND=x apt-get install -y 'a b' \\\n c >/dev/null 2>&1; curl -fsSL x | sh || true";
        let got = programs(text);
        assert_eq!(
            got,
            vec![
                (Join::Start, vec!["apt-get".into(), "update".into()]),
                (
                    Join::And,
                    vec![
                        "apt-get".into(),
                        "install".into(),
                        "-y".into(),
                        "a b".into(),
                        "c".into()
                    ]
                ),
                (Join::Seq, vec!["curl".into(), "-fsSL".into(), "x".into()]),
                (Join::Pipe, vec!["sh".into()]),
                (Join::Or, vec!["true".into()]),
            ]
        );
    }

    #[test]
    fn word_offsets_point_into_the_source() {
        let text = "RUN cd /x && \\\n    rm -rf \"/var/lib/apt/lists/\"*";
        let cmds = split(text, 4, text.len(), '\\');
        let rm = &cmds[1].words[2];
        assert_eq!(rm.text, "/var/lib/apt/lists/*");
        assert_eq!(
            &text[rm.offset..rm.offset + rm.len],
            "\"/var/lib/apt/lists/\"*"
        );
    }

    #[test]
    fn keywords_and_subshells() {
        let got = programs("if [ -f x ]; then rm x; fi && (cd y && make)");
        let names: Vec<&str> = got.iter().map(|(_, w)| w[0].as_str()).collect();
        assert_eq!(names, ["[", "rm", "cd", "make"]);
    }
}
