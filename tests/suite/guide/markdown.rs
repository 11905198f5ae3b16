//! Markdown as the checker sees it: fenced code blocks (with the `<!-- check: ... -->` line right
//! above them) and the commands in them, with the output a `console` block shows under each.

/// One fenced code block: its info string, the `check:` line above it, its lines.
pub struct Block {
    pub line: usize,
    pub lang: String,
    pub marker: Option<String>,
    pub body: Vec<String>,
}

pub fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut prev = "";
    for (i, line) in text.lines().enumerate() {
        match open.as_mut() {
            Some(_) if line.trim_start().starts_with("```") => out.push(open.take().unwrap()),
            Some(b) => b.body.push(line.to_string()),
            None => {
                if let Some(lang) = line.trim_start().strip_prefix("```") {
                    let marker = prev
                        .trim()
                        .strip_prefix("<!-- check:")
                        .and_then(|m| m.strip_suffix("-->"))
                        .map(|m| m.trim().to_string());
                    open = Some(Block {
                        line: i + 1,
                        lang: lang.trim().to_string(),
                        marker,
                        body: Vec::new(),
                    });
                }
            }
        }
        prev = line;
    }
    out
}

/// A command line (continuations joined) and, in `console` blocks, the output shown under it.
pub struct Cmd {
    pub line: usize,
    pub text: String,
    pub output: Option<Vec<String>>,
}

pub fn commands(block: &Block) -> Vec<Cmd> {
    let console = block.lang == "console";
    let mut out: Vec<Cmd> = Vec::new();
    let mut continuing = false;
    for (i, raw) in block.body.iter().enumerate() {
        let line = block.line + 1 + i;
        if continuing {
            let cmd = out.last_mut().unwrap();
            cmd.text.push_str(raw.trim_end_matches('\\'));
            continuing = raw.ends_with('\\');
            continue;
        }
        let text = if console {
            match raw.strip_prefix("$ ") {
                Some(t) => t,
                None => {
                    if let Some(cmd) = out.last_mut() {
                        cmd.output.get_or_insert_with(Vec::new).push(raw.clone());
                    }
                    continue;
                }
            }
        } else {
            raw.as_str()
        };
        if text.trim().is_empty() || text.trim_start().starts_with('#') {
            continue;
        }
        continuing = text.ends_with('\\');
        out.push(Cmd {
            line,
            text: text.trim_end_matches('\\').to_string(),
            output: None,
        });
    }
    out
}
