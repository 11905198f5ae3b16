//! A small POSIX-shell word splitter, enough for documentation examples: quotes, backslashes,
//! `$(...)`, comments and operators. It tells which words carry an unquoted glob character.

#[derive(Debug, PartialEq)]
pub enum Token {
    /// A word after quote removal; `glob` is true when `?`, `*` or `[` appeared unquoted.
    Word { text: String, glob: bool },
    /// `|`, `||`, `&`, `&&`, `;`, `>`, `<` and the like: ends a simple command.
    Op,
}

pub fn tokens(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let (mut word, mut glob, mut in_word) = (String::new(), false, false);
    let mut chars = line.chars().peekable();
    let flush = |out: &mut Vec<Token>, word: &mut String, glob: &mut bool, in_word: &mut bool| {
        if *in_word {
            out.push(Token::Word {
                text: std::mem::take(word),
                glob: *glob,
            });
        }
        (*glob, *in_word) = (false, false);
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => flush(&mut out, &mut word, &mut glob, &mut in_word),
            '#' if !in_word => break,
            '|' | '&' | ';' | '<' | '>' => {
                flush(&mut out, &mut word, &mut glob, &mut in_word);
                out.push(Token::Op);
            }
            '\'' => {
                in_word = true;
                word.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '$' if chars.peek() == Some(&'(') => {
                // Command substitution: kept verbatim as part of the word.
                in_word = true;
                word.push('$');
                let mut depth = 0;
                for c in chars.by_ref() {
                    word.push(c);
                    depth += (c == '(') as i32 - (c == ')') as i32;
                    if depth == 0 {
                        break;
                    }
                }
            }
            c => {
                in_word = true;
                glob |= matches!(c, '?' | '*' | '[');
                word.push(c);
            }
        }
    }
    flush(&mut out, &mut word, &mut glob, &mut in_word);
    out
}

/// The words of the first simple command of a line.
pub fn first_command(line: &str) -> Vec<String> {
    tokens(line)
        .into_iter()
        .map_while(|t| match t {
            Token::Word { text, .. } => Some(text),
            Token::Op => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word splitter keeps quoted globs, command substitutions and operators apart.
    #[test]
    fn tokens_follow_shell_quoting() {
        let w = |t: &str, glob| Token::Word {
            text: t.into(),
            glob,
        };
        assert_eq!(
            tokens(
                r#"curl -s 'http://x/a?b=1' "$(minikube ip) x" http://y/?z | grep -A3 "a b" # c"#
            ),
            vec![
                w("curl", false),
                w("-s", false),
                w("http://x/a?b=1", false),
                w("$(minikube ip) x", false),
                w("http://y/?z", true),
                Token::Op,
                w("grep", false),
                w("-A3", false),
                w("a b", false),
            ]
        );
        assert_eq!(
            first_command("helm template hello ./c --set a='b c' | grep x"),
            ["helm", "template", "hello", "./c", "--set", "a=b c"]
        );
    }
}
