//! Shell command strings (`sh -c`, `cmd /c`, `env -S`) split into simple
//! commands and words, as a shell would, without expanding anything.

/// Splits a shell command string into its simple commands (split at `;`,
/// `&&`, `||`, `|`, `&` and newlines), each as words with quotes removed.
/// Leading assignments and `exec` are dropped. Expansions stay verbatim.
pub(super) fn shell_commands(s: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    let end_command = |words: &mut Vec<String>, commands: &mut Vec<Vec<String>>| {
        let mut w = std::mem::take(words);
        let skip = w
            .iter()
            .take_while(|x| is_assignment(x) || x.as_str() == "exec")
            .count();
        w.drain(..skip);
        if !w.is_empty() {
            commands.push(w);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    word.push(d);
                }
            }
            '"' => {
                in_word = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars.next().unwrap_or('\\'));
                        }
                        _ => word.push(d),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(d) => word.push(d),
                }
            }
            ';' | '&' | '|' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                end_command(&mut words, &mut commands);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    end_command(&mut words, &mut commands);
    commands
}

/// Words of one command string (all of its simple commands run together).
pub(super) fn split_words(s: &str) -> Vec<String> {
    shell_commands(s).into_iter().flatten().collect()
}

pub(super) fn is_assignment(s: &str) -> bool {
    match s.split_once('=') {
        Some((name, _)) => {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}
