//! Message text between Bitrix24 and WhatsApp: the messenger's BB-code (what an operator types
//! in an Open Line) as WhatsApp markup, WhatsApp markup (what a customer types) as BB-code, and
//! the operator's signature that Bitrix24 puts in front of an operator's text.
//!
//! Bitrix24's BB-codes are those of its messenger: `[b] [i] [u] [s] [size=N] [color=#HEX]
//! [url] [url=…] [user=…] [chat=…] [context=…] [code] [img size=…] [icon=…] [put=…] [send=…]
//! [call] [call=…] [timestamp=…] [disk=…] [br]`, `>>` quote lines and `------` quote blocks
//! (REST docs, `api-reference/chat-bots/chat-bots-v2/imbot.v2/messages/message-formatting.md`;
//! `api-reference/chats/messages/formatting.md`); `[quote]` is the forum form that older
//! messages carry. Tags are case-insensitive.
//!
//! WhatsApp renders `*bold*`, `_italic_`, `~strike~`, ```` ```monospace``` ```` and `> ` quote
//! lines; a marker counts only where it begins after a non-word character and before a
//! non-space, and ends after a non-space and before a non-word character, on one line.
//!
//! Every function here is pure and total: the input is cut to [`MAX_TEXT`] bytes, nesting is
//! capped, nothing panics, and the output is at most a small multiple of the input.

use std::fmt::Write as _;

/// The longest text converted, in bytes (a longer one is cut at a character boundary). WhatsApp
/// refuses texts longer than 65,536 characters.
pub const MAX_TEXT: usize = 64 * 1024;

/// Tags nested deeper than this are left as text.
const MAX_DEPTH: usize = 32;

/// WhatsApp markers nested deeper than this are left as text.
const MAX_MARKUP_DEPTH: usize = 8;

/// The longest argument of a tag (`[url=…]`), in bytes; a longer one is not a tag.
const MAX_ARG: usize = 2048;

/// The longest operator name taken as a signature, in characters.
const MAX_SIGNATURE: usize = 128;

/// An operator's message split into the signature Bitrix24 added and the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed<'a> {
    /// The operator's name from the signature (`[b]Name:[/b] [br]`), without the colon;
    /// `None` when the text carries no signature.
    pub operator: Option<&'a str>,
    /// The rest of the message, BB-code.
    pub body: &'a str,
}

/// Splits the signature that Bitrix24 puts in front of an operator's text when the connector
/// asks for it (`NEED_SIGNATURE`): `[b]Klaus Weber:[/b] [br]Guten Tag!` is the operator
/// `Klaus Weber` and the body `Guten Tag!`. A text without it is all body.
pub fn split_signature(bbcode: &str) -> Signed<'_> {
    let bbcode = cap(bbcode);
    let unsigned = Signed { operator: None, body: bbcode };
    let Some(rest) = strip_prefix_ignore_case(bbcode, "[b]") else { return unsigned };
    let Some(end) = find_ignore_case(rest, "[/b]") else { return unsigned };
    let name = &rest[..end];
    let Some(name) = name.strip_suffix(':') else { return unsigned };
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_SIGNATURE
        || name.contains(['[', ']', '\n', '\r'])
    {
        return unsigned;
    }
    let after = rest[end + "[/b]".len()..].trim_start_matches([' ', '\t']);
    let body = if let Some(body) = strip_prefix_ignore_case(after, "[br]") {
        body
    } else if let Some(body) = after.strip_prefix("\r\n").or_else(|| after.strip_prefix('\n')) {
        body
    } else {
        return unsigned;
    };
    Signed { operator: Some(name), body }
}

/// The text an operator's message becomes in WhatsApp: the body as WhatsApp markup, after the
/// operator's name in bold on a line of its own when `keep_signature` (the line's setting)
/// and the message was signed.
pub fn operator_text(bbcode: &str, keep_signature: bool) -> String {
    let signed = split_signature(bbcode);
    let body = bbcode_to_whatsapp(signed.body);
    let body = body.trim_matches('\n');
    match signed.operator {
        Some(name) if keep_signature => {
            let name = decode_entities(name);
            let name = name.trim();
            if name.is_empty() { body.to_owned() } else { format!("*{name}:*\n{body}") }
        }
        _ => body.to_owned(),
    }
}

/// Bitrix24 BB-code as WhatsApp markup. Formatting that WhatsApp lacks (underline, colour,
/// size, icons) is dropped, keeping the text; links become `text (url)`; mentions and command
/// links become their text; HTML entities are decoded; unknown or unbalanced tags stay as text.
pub fn bbcode_to_whatsapp(bbcode: &str) -> String {
    let bbcode = cap(bbcode);
    let tree = parse(bbcode);
    let mut out = String::with_capacity(bbcode.len());
    render(&tree, Context::default(), &mut out);
    quote_lines(&out)
}

/// WhatsApp markup as Bitrix24 BB-code, only where WhatsApp itself would render it: `*b*`,
/// `_i_`, `~s~`, ```` ```code``` ```` and `> ` quote lines. Brackets that would open a
/// BB-code tag are defused (a zero-width space after `[`), so a customer cannot post a link,
/// a mention or a command button into the operator's chat.
pub fn whatsapp_to_bbcode(text: &str) -> String {
    let text = cap(text);
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut rest = text;
    // Monospace blocks first: they may span lines and nothing inside them is markup.
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let Some(len) = after.find("```").filter(|&n| n > 0) else { break };
        inline_lines(&rest[..start], &mut out);
        out.push_str("[code]");
        push_defused(&after[..len], &mut out);
        out.push_str("[/code]");
        rest = &after[len + 3..];
    }
    inline_lines(rest, &mut out);
    out
}

// ----- BB-code to WhatsApp -----

/// A parsed piece of BB-code.
#[derive(Debug)]
enum Node<'a> {
    /// Text, entities not yet decoded.
    Text(&'a str),
    /// A known tag with its children (`arg`: what follows `=` or the name).
    Tag { tag: Tag, arg: Option<&'a str>, children: Vec<Node<'a>> },
    /// `[code]…[/code]`: the raw content.
    Code(&'a str),
    /// A tag without content (`[br]`, `[icon=…]`).
    Void { tag: Tag, arg: Option<&'a str> },
}

/// The tags Bitrix24's messenger knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Bold,
    Italic,
    Strike,
    Underline,
    Color,
    Size,
    Url,
    User,
    Chat,
    Context,
    Send,
    Put,
    Call,
    Quote,
    Code,
    Image,
    Break,
    Icon,
    Disk,
    Timestamp,
}

impl Tag {
    fn from_name(name: &str) -> Option<Tag> {
        let tag = match name.to_ascii_lowercase().as_str() {
            "b" => Tag::Bold,
            "i" => Tag::Italic,
            "s" => Tag::Strike,
            "u" => Tag::Underline,
            "color" => Tag::Color,
            "size" => Tag::Size,
            "url" => Tag::Url,
            "user" => Tag::User,
            "chat" => Tag::Chat,
            "context" => Tag::Context,
            "send" => Tag::Send,
            "put" => Tag::Put,
            "call" => Tag::Call,
            "quote" => Tag::Quote,
            "code" => Tag::Code,
            "img" => Tag::Image,
            "br" => Tag::Break,
            "icon" => Tag::Icon,
            "disk" => Tag::Disk,
            "timestamp" => Tag::Timestamp,
            _ => return None,
        };
        Some(tag)
    }

    /// A tag written with an argument (`[url=…]`, `[icon=… size=…]`); the others are written
    /// bare (`[b]`).
    fn takes_arg(self) -> bool {
        !matches!(
            self,
            Tag::Bold | Tag::Italic | Tag::Strike | Tag::Underline | Tag::Code | Tag::Break
        )
    }

    /// A tag that has no closing tag.
    fn is_void(self) -> bool {
        matches!(self, Tag::Break | Tag::Icon | Tag::Disk | Tag::Timestamp)
    }
}

/// A tag as written: `[name]`, `[name=arg]`, `[name attr=…]` or `[/name]`.
struct Written<'a> {
    tag: Tag,
    closing: bool,
    arg: Option<&'a str>,
    /// Bytes from `[` to `]` inclusive.
    len: usize,
}

/// Reads a tag at the start of `s` (which begins with `[`); `None` when it is not one.
fn read_tag(s: &str) -> Option<Written<'_>> {
    let inner = s.get(1..)?;
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let name_len = inner.bytes().take_while(u8::is_ascii_alphabetic).count();
    if name_len == 0 || name_len > 10 {
        return None;
    }
    let tag = Tag::from_name(&inner[..name_len])?;
    let after = &inner[name_len..];
    let end = after.bytes().take(MAX_ARG + 2).position(|b| b == b']' || b == b'\n')?;
    if after.as_bytes()[end] != b']' {
        return None;
    }
    let arg = match after.as_bytes()[..end].first() {
        None => None,
        Some(_) if closing || !tag.takes_arg() => return None,
        Some(b'=') => Some(&after[1..end]),
        Some(b' ') => Some(&after[1..end]),
        Some(_) => return None,
    };
    let len = 1 + usize::from(closing) + name_len + end + 1;
    Some(Written { tag, closing, arg, len })
}

/// A tag opened and not yet closed.
struct Open<'a> {
    tag: Tag,
    arg: Option<&'a str>,
    /// The opening tag as written, for when it turns out unbalanced.
    raw: &'a str,
    children: Vec<Node<'a>>,
}

/// Parses BB-code into a tree. A closing tag without its opening one, and an opening tag
/// never closed, are text.
fn parse(s: &str) -> Vec<Node<'_>> {
    let mut root: Vec<Node<'_>> = Vec::new();
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut pos = 0;
    let mut text_from = 0;
    let mut code_unclosed = false;
    while let Some(off) = s[pos..].find('[') {
        let at = pos + off;
        let Some(w) = read_tag(&s[at..]) else {
            pos = at + 1;
            continue;
        };
        let raw = &s[at..at + w.len];
        push_text(&mut stack, &mut root, &s[text_from..at]);
        pos = at + w.len;
        text_from = pos;
        if w.closing {
            match stack.iter().rposition(|o| o.tag == w.tag) {
                Some(index) => {
                    while stack.len() > index + 1 {
                        unwind_one(&mut stack, &mut root);
                    }
                    if let Some(open) = stack.pop() {
                        let node =
                            Node::Tag { tag: open.tag, arg: open.arg, children: open.children };
                        push_node(&mut stack, &mut root, node);
                    }
                }
                None => push_text(&mut stack, &mut root, raw),
            }
        } else if w.tag == Tag::Code {
            // Once no `[/code]` follows, none follows a later `[code]` either: not searched again.
            let close = if code_unclosed { None } else { find_ignore_case(&s[pos..], "[/code]") };
            code_unclosed = close.is_none();
            match close {
                Some(len) => {
                    push_node(&mut stack, &mut root, Node::Code(&s[pos..pos + len]));
                    pos += len + "[/code]".len();
                    text_from = pos;
                }
                None => push_text(&mut stack, &mut root, raw),
            }
        } else if w.tag.is_void() {
            push_node(&mut stack, &mut root, Node::Void { tag: w.tag, arg: w.arg });
        } else if stack.len() >= MAX_DEPTH {
            push_text(&mut stack, &mut root, raw);
        } else {
            stack.push(Open { tag: w.tag, arg: w.arg, raw, children: Vec::new() });
        }
    }
    push_text(&mut stack, &mut root, &s[text_from..]);
    while !stack.is_empty() {
        unwind_one(&mut stack, &mut root);
    }
    root
}

fn push_node<'a>(stack: &mut [Open<'a>], root: &mut Vec<Node<'a>>, node: Node<'a>) {
    match stack.last_mut() {
        Some(open) => open.children.push(node),
        None => root.push(node),
    }
}

fn push_text<'a>(stack: &mut [Open<'a>], root: &mut Vec<Node<'a>>, text: &'a str) {
    if !text.is_empty() {
        push_node(stack, root, Node::Text(text));
    }
}

/// The innermost open tag was never closed: it becomes its text, its children move up.
fn unwind_one<'a>(stack: &mut Vec<Open<'a>>, root: &mut Vec<Node<'a>>) {
    if let Some(open) = stack.pop() {
        push_text(stack, root, open.raw);
        for child in open.children {
            push_node(stack, root, child);
        }
    }
}

/// Formatting already applied around a node, so that it is not applied twice.
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    bold: bool,
    italic: bool,
    strike: bool,
    quote: bool,
}

fn render(nodes: &[Node<'_>], ctx: Context, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(&decode_entities(text)),
            Node::Code(code) => {
                out.push_str("```");
                out.push_str(&decode_entities(code));
                out.push_str("```");
            }
            Node::Void { tag, arg } => render_void(*tag, *arg, out),
            Node::Tag { tag, arg, children } => render_tag(*tag, *arg, children, ctx, out),
        }
    }
}

fn render_void(tag: Tag, arg: Option<&str>, out: &mut String) {
    match tag {
        Tag::Break => out.push('\n'),
        Tag::Timestamp => {
            let digits: String = arg
                .unwrap_or_default()
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .take(20)
                .collect();
            let at = digits
                .parse::<i64>()
                .ok()
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok());
            if let Some(at) = at {
                let _ = write!(
                    out,
                    "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                    at.year(),
                    u8::from(at.month()),
                    at.day(),
                    at.hour(),
                    at.minute()
                );
            }
        }
        // Icons and Bitrix24 Drive files mean nothing outside the portal.
        _ => {}
    }
}

fn render_tag(tag: Tag, arg: Option<&str>, children: &[Node<'_>], ctx: Context, out: &mut String) {
    let inner = |ctx: Context| {
        let mut s = String::new();
        render(children, ctx, &mut s);
        s
    };
    match tag {
        Tag::Bold if !ctx.bold => emphasize(&inner(Context { bold: true, ..ctx }), '*', out),
        Tag::Italic if !ctx.italic => emphasize(&inner(Context { italic: true, ..ctx }), '_', out),
        Tag::Strike if !ctx.strike => emphasize(&inner(Context { strike: true, ..ctx }), '~', out),
        Tag::Url => {
            let text = inner(ctx);
            let url = arg.map(decode_entities);
            let url = url.as_deref().map(str::trim).filter(|u| !u.is_empty());
            match url {
                Some(url) if text.trim().is_empty() || text.trim() == url => out.push_str(url),
                Some(url) => {
                    let _ = write!(out, "{text} ({url})");
                }
                None => out.push_str(text.trim()),
            }
        }
        Tag::Image => out.push_str(inner(ctx).trim()),
        Tag::Quote => {
            let text = inner(Context { quote: true, ..ctx });
            let text = text.trim_matches('\n');
            if ctx.quote {
                // WhatsApp quotes one level deep.
                out.push_str(text);
                return;
            }
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            let author = arg.map(decode_entities);
            if let Some(author) = author.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
                let _ = writeln!(out, "> {author}:");
            }
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str("> ");
                out.push_str(line);
            }
            out.push('\n');
        }
        // Underline, colour and size have no WhatsApp form; mentions, chat and message links,
        // command buttons and calls keep their text.
        _ => out.push_str(&inner(ctx)),
    }
}

/// Wraps each line of `text` in `marker`, outside the line's leading and trailing spaces
/// (WhatsApp does not render `*bold *`, nor a marker across lines).
fn emphasize(text: &str, marker: char, out: &mut String) {
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let core = line.trim();
        if core.is_empty() {
            out.push_str(line);
            continue;
        }
        let lead = line.len() - line.trim_start().len();
        out.push_str(&line[..lead]);
        out.push(marker);
        out.push_str(core);
        out.push(marker);
        out.push_str(&line[lead + core.len()..]);
    }
}

/// Bitrix24's line quotes as WhatsApp's: `>>text` lines, and the lines between two
/// `------` lines (how the messenger quotes a whole message), become `> text`.
fn quote_lines(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let separator = |line: &str| {
        let t = line.trim();
        t.len() >= 6 && t.bytes().all(|b| b == b'-')
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut first = true;
    let mut push_line = |out: &mut String, line: &str| {
        if !first {
            out.push('\n');
        }
        first = false;
        out.push_str(line);
    };
    while i < lines.len() {
        let line = lines[i];
        if separator(line)
            && let Some(len) = lines[i + 1..].iter().position(|l| separator(l))
        {
            for quoted in &lines[i + 1..i + 1 + len] {
                push_line(&mut out, &format!("> {quoted}"));
            }
            i += len + 2;
            continue;
        }
        match line.strip_prefix(">>") {
            Some(rest) => push_line(&mut out, &format!("> {}", rest.trim_start())),
            None => push_line(&mut out, line),
        }
        i += 1;
    }
    out
}

// ----- WhatsApp to BB-code -----

/// Converts text without monospace blocks, line by line.
fn inline_lines(text: &str, out: &mut String) {
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let body = match line.strip_prefix("> ") {
            Some(quoted) => {
                out.push_str(">>");
                quoted
            }
            None => line,
        };
        let chars: Vec<char> = body.chars().collect();
        let closers = Closers::of(&chars);
        inline(&chars, 0, chars.len(), &closers, 0, out);
    }
}

/// Where each WhatsApp marker may close, by marker: after a non-space, before a non-word
/// character or the end of the line, outside links. Sorted positions.
struct Closers {
    bold: Vec<usize>,
    italic: Vec<usize>,
    strike: Vec<usize>,
    /// Which characters belong to a link (`http://…` or `https://…` up to the next space):
    /// markers there are part of the address (`https://x.test/a_b_`), never formatting.
    in_link: Vec<bool>,
}

/// Marks the links of a line: from `http://` or `https://` (at the start, or after a space or an
/// opening bracket or quote) to the next space, without the punctuation and markers that end
/// it (`(https://x.test/a)_`: the link is `https://x.test/a`).
fn links(chars: &[char]) -> Vec<bool> {
    let mut mask = vec![false; chars.len()];
    let mut i = 0;
    while i < chars.len() {
        let starts = (i == 0
            || chars[i - 1].is_whitespace()
            || matches!(chars[i - 1], '(' | '<' | '"' | '\''))
            && ["http://", "https://"].iter().any(|scheme| {
                chars.len() - i >= scheme.len()
                    && chars[i..i + scheme.len()]
                        .iter()
                        .zip(scheme.chars())
                        .all(|(a, b)| a.eq_ignore_ascii_case(&b))
            });
        if !starts {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        let mut end = i;
        while end > start
            && matches!(
                chars[end - 1],
                '.' | ',' | ';' | ':' | '!' | '?' | ')' | '\'' | '"' | '*' | '_' | '~'
            )
        {
            end -= 1;
        }
        mask[start..end].iter_mut().for_each(|m| *m = true);
    }
    mask
}

impl Closers {
    fn of(chars: &[char]) -> Closers {
        let in_link = links(chars);
        let mut c = Closers { bold: vec![], italic: vec![], strike: vec![], in_link: vec![] };
        for (i, &ch) in chars.iter().enumerate() {
            if in_link[i] {
                continue;
            }
            let Some(list) = c.list_mut(ch) else { continue };
            let after_text = i > 0 && !chars[i - 1].is_whitespace();
            let before_boundary = chars.get(i + 1).is_none_or(|n| !n.is_alphanumeric());
            if after_text && before_boundary {
                list.push(i);
            }
        }
        c.in_link = in_link;
        c
    }

    fn list_mut(&mut self, marker: char) -> Option<&mut Vec<usize>> {
        match marker {
            '*' => Some(&mut self.bold),
            '_' => Some(&mut self.italic),
            '~' => Some(&mut self.strike),
            _ => None,
        }
    }

    /// The first place `marker` closes at or after `from` and before `until`.
    fn first(&self, marker: char, from: usize, until: usize) -> Option<usize> {
        let list = match marker {
            '*' => &self.bold,
            '_' => &self.italic,
            '~' => &self.strike,
            _ => return None,
        };
        let at = list.partition_point(|&p| p < from);
        list.get(at).copied().filter(|&p| p < until)
    }
}

fn bb_tag(marker: char) -> &'static str {
    match marker {
        '*' => "b",
        '_' => "i",
        _ => "s",
    }
}

/// Converts `chars[from..until]`: each marker that opens (after a non-word character, before
/// a non-space) and has a closer later on the line becomes a tag around its converted content.
fn inline(
    chars: &[char],
    from: usize,
    until: usize,
    closers: &Closers,
    depth: usize,
    out: &mut String,
) {
    let mut i = from;
    while i < until {
        let ch = chars[i];
        let opens = matches!(ch, '*' | '_' | '~')
            && !closers.in_link[i]
            && depth < MAX_MARKUP_DEPTH
            && (i == 0 || !chars[i - 1].is_alphanumeric())
            && chars.get(i + 1).is_some_and(|n| !n.is_whitespace());
        if opens && let Some(close) = closers.first(ch, i + 2, until) {
            let tag = bb_tag(ch);
            let _ = write!(out, "[{tag}]");
            inline(chars, i + 1, close, closers, depth + 1, out);
            let _ = write!(out, "[/{tag}]");
            i = close + 1;
            continue;
        }
        push_char_defused(chars, i, out);
        i += 1;
    }
}

/// Pushes `chars[i]`, with a zero-width space after a `[` that could open a tag.
fn push_char_defused(chars: &[char], i: usize, out: &mut String) {
    out.push(chars[i]);
    if chars[i] == '[' && chars.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic() || *n == '/') {
        out.push('\u{200B}');
    }
}

fn push_defused(text: &str, out: &mut String) {
    let chars: Vec<char> = text.chars().collect();
    for i in 0..chars.len() {
        push_char_defused(&chars, i, out);
    }
}

// ----- shared -----

/// `s` cut to at most [`MAX_TEXT`] bytes at a character boundary.
fn cap(s: &str) -> &str {
    if s.len() <= MAX_TEXT {
        return s;
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// The byte offset of the first `needle` (ASCII) in `s`, ignoring ASCII case.
fn find_ignore_case(s: &str, needle: &str) -> Option<usize> {
    let n = needle.as_bytes();
    s.as_bytes().windows(n.len()).position(|w| w.eq_ignore_ascii_case(n))
}

/// HTML entities decoded: the named ones Bitrix24 writes (`&nbsp;` becomes a plain space)
/// and numeric ones; anything else stays as written.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.bytes().take(12).position(|b| b == b';');
        let decoded = end.and_then(|end| entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    let c = match name {
        "nbsp" => ' ',
        "quot" => '"',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "apos" => '\'',
        _ => {
            let code =
                if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()?
                } else {
                    name.strip_prefix('#')?.parse::<u32>().ok()?
                };
            char::from_u32(code).filter(|c| *c == '\n' || *c == '\t' || !c.is_control())?
        }
    };
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn to_wa(bb: &str, wa: &str) {
        assert_eq!(bbcode_to_whatsapp(bb), wa, "{bb:?}");
    }

    #[track_caller]
    fn to_bb(wa: &str, bb: &str) {
        assert_eq!(whatsapp_to_bbcode(wa), bb, "{wa:?}");
    }

    /// The BB-codes of Bitrix24's messenger (REST docs,
    /// api-reference/chat-bots/chat-bots-v2/imbot.v2/messages/message-formatting.md).
    #[test]
    fn messenger_bbcodes_become_whatsapp_markup() {
        to_wa("[b]bold[/b] [i]italic[/i] [s]gone[/s]", "*bold* _italic_ ~gone~");
        to_wa("[B]Важное[/B][BR]Откройте", "*Важное*\nОткройте");
        to_wa("[u]under[/u]lined", "underlined");
        to_wa("[code]let x = [b]1[/b];[/code]", "```let x = [b]1[/b];```");
        to_wa("one[br]two\nthree", "one\ntwo\nthree");
        to_wa("[url=https://bitrix24.ru]site[/url]", "site (https://bitrix24.ru)");
        to_wa("[URL]https://example.com[/URL]", "https://example.com");
        to_wa("[url=https://a.b]https://a.b[/url]", "https://a.b");
        to_wa("[user=12]Ivan[/user], hi; [user=all]All[/user]", "Ivan, hi; All");
        to_wa("[chat=imol|789]Line[/chat] [context=chat1/2]there[/context]", "Line there");
        to_wa("[color=#ff0000]red[/color] [size=20]big[/size]", "red big");
        to_wa("a[icon=https://x/i.png size=20 title=smile]b [disk=123]", "ab ");
        to_wa("[send=/help]Help[/send] or [put=/search]Search[/put]", "Help or Search");
        to_wa("[call=+79991234567]Call us[/call] [call]+7999[/call]", "Call us +7999");
        to_wa("[img size=medium]https://example.com/pic.jpg [/img]", "https://example.com/pic.jpg");
        to_wa("[timestamp=1645844720 format=SHORT_TIME_FORMAT]", "2022-02-26 03:05 UTC");
    }

    #[test]
    fn quotes_become_quote_lines() {
        to_wa("[quote]one\ntwo[/quote]answer", "> one\n> two\nanswer");
        to_wa("before[QUOTE]q[/QUOTE]", "before\n> q\n");
        to_wa("[quote=Anna]hi[/quote]", "> Anna:\n> hi\n");
        to_wa("[quote]a[quote]b[/quote]c[/quote]", "> abc\n");
        to_wa(">>first\n>>second\nreply", "> first\n> second\nreply");
        to_wa(
            "------------------------------------------------------\nAnna [05.12.2026 10:00]\nhello\n------------------------------------------------------\nreply",
            "> Anna [05.12.2026 10:00]\n> hello\nreply",
        );
        // A separator never closed is a line of dashes.
        to_wa("------\ntext", "------\ntext");
    }

    #[test]
    fn nesting_case_and_spaces() {
        to_wa("[b][i]both[/i][/b]", "*_both_*");
        to_wa("[b]Hello [/b]world", "*Hello* world");
        to_wa("[b] [/b]x", " x");
        to_wa("[b]one\ntwo[/b]", "*one*\n*two*");
        to_wa("[b]a [B]b[/B] c[/b]", "*a b c*");
        to_wa("[url=https://x.y][b]bold link[/b][/url]", "*bold link* (https://x.y)");
    }

    #[test]
    fn unbalanced_and_unknown_tags_stay_text() {
        to_wa("[b]open", "[b]open");
        to_wa("close[/b]", "close[/b]");
        to_wa("[b]bold[i]x[/b]", "*bold[i]x*");
        to_wa("[note]keep[/note] [b=1]x[/b]", "[note]keep[/note] [b=1]x[/b]");
        to_wa("a [ b ] c [] [/] [", "a [ b ] c [] [/] [");
        to_wa("[code]never closed", "[code]never closed");
        to_wa("[url=https://x\n]y[/url]", "[url=https://x\n]y[/url]");
    }

    #[test]
    fn entities_are_decoded_after_parsing() {
        to_wa(
            "a&nbsp;b &quot;c&quot; &amp; &lt;d&gt; &#39;e&#039; &#x41;",
            "a b \"c\" & <d> 'e' A",
        );
        // An encoded bracket is text, never a tag.
        to_wa("&#91;b&#93;x&#91;/b&#93;", "[b]x[/b]");
        to_wa("&unknown; & &#0; &#xZZ;", "&unknown; & &#0; &#xZZ;");
        to_wa("[url=https://x.y/?a=1&amp;b=2]q[/url]", "q (https://x.y/?a=1&b=2)");
    }

    /// The signature Bitrix24 adds when the connector asks for it (NEED_SIGNATURE), as the
    /// ONIMCONNECTORMESSAGEADD example shows it (REST docs,
    /// api-reference/imopenlines/imconnector/events/on-imconnector-message-add.md).
    #[test]
    fn the_operator_signature_is_split() {
        let s = split_signature("[b]Klaus Weber:[/b] [br]Guten Tag!");
        assert_eq!(s, Signed { operator: Some("Klaus Weber"), body: "Guten Tag!" });
        assert_eq!(split_signature("[B]Анна:[/B][BR][b]x[/b]").operator, Some("Анна"));
        assert_eq!(split_signature("[b]Anna:[/b]\nhi").body, "hi");
        for unsigned in ["[b]Note:[/b] hi", "[b]bold[/b] [br]x", "hi", "[b]:[/b] [br]x", "[b]a"] {
            assert_eq!(split_signature(unsigned), Signed { operator: None, body: unsigned });
        }
        assert_eq!(
            operator_text("[b]Klaus Weber:[/b] [br]Guten [i]Tag[/i]!", true),
            "*Klaus Weber:*\nGuten _Tag_!"
        );
        assert_eq!(operator_text("[b]Klaus Weber:[/b] [br]Guten Tag!", false), "Guten Tag!");
        assert_eq!(operator_text("no signature [b]here[/b]", true), "no signature *here*");
    }

    #[test]
    fn whatsapp_markup_becomes_bbcode_where_whatsapp_renders_it() {
        to_bb("*bold* _it_ ~gone~", "[b]bold[/b] [i]it[/i] [s]gone[/s]");
        to_bb("*_both_*", "[b][i]both[/i][/b]");
        to_bb("> quoted\nplain", ">>quoted\nplain");
        to_bb("```let *x* = 1;\nok```", "[code]let *x* = 1;\nok[/code]");
        // Not rendered by WhatsApp, so left alone.
        for plain in
            ["2*3*4", "snake_case_name", "* not bold*", "*not bold *", "*a\nb*", "**", "a ** b"]
        {
            to_bb(plain, plain);
        }
        to_bb("(*yes*)", "([b]yes[/b])");
        // Markers inside a link are part of the address.
        to_bb("see https://x.test/_a_ and *b*", "see https://x.test/_a_ and [b]b[/b]");
        to_bb("~see https://x.test/a_b_~ b", "[s]see https://x.test/a_b_[/s] b");
        to_bb("_(https://x.test/a)_", "[i](https://x.test/a)[/i]");
    }

    #[test]
    fn customer_brackets_cannot_open_tags() {
        to_bb("[url=https://evil]click[/url]", "[\u{200B}url=https://evil]click[\u{200B}/url]");
        to_bb("[1] [ ok", "[1] [ ok");
        to_bb("```[b]```", "[code][\u{200B}b][/code]");
        let out = whatsapp_to_bbcode("[send=/x]y[/send]");
        assert_eq!(bbcode_to_whatsapp(&out), out, "no tag left to render");
    }

    #[test]
    fn input_is_capped_and_nesting_bounded() {
        let long = "é".repeat(MAX_TEXT);
        assert!(bbcode_to_whatsapp(&long).len() <= MAX_TEXT);
        assert!(whatsapp_to_bbcode(&long).len() <= MAX_TEXT);
        let deep = "[b][i]".repeat(1000) + "x" + &"[/i][/b]".repeat(1000);
        // The first levels are formatting, the deeper ones stay text.
        let out = bbcode_to_whatsapp(&deep);
        assert!(out.starts_with("*_[b][i]") && out.contains('x'), "{}", &out[..80]);
        let deep_wa = "*_".repeat(1000) + "x" + &"_*".repeat(1000);
        assert!(whatsapp_to_bbcode(&deep_wa).len() < 8 * deep_wa.len());
        crate::fuzzing::bbcode(deep.as_bytes());
        crate::fuzzing::bbcode(deep_wa.as_bytes());
    }

    /// Plain text passes unchanged both ways, and WhatsApp markup survives the round trip
    /// through BB-code (a deterministic sweep over a small alphabet, as the fuzz target does).
    #[test]
    fn round_trips_over_a_small_alphabet() {
        let alphabet = ['a', 'b', ' ', '*', '_', '~', '\n', '(', 'я'];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = usize::try_from(seed % 14).unwrap();
            let text: String = (0..len)
                .map(|i| alphabet[usize::try_from((seed >> (i * 4)) % 9).unwrap()])
                .collect();
            crate::fuzzing::bbcode(text.as_bytes());
        }
    }

    /// Random sequences of tags, entities, markers and quotes through the fuzz harness (no
    /// panic, bounded output; a deterministic sweep, as the fuzz target does at random).
    #[test]
    fn tag_soup_is_survived() {
        let pieces = [
            "[b]",
            "[/b]",
            "[I]",
            "[/i]",
            "[url=https://x.test/?a=1&amp;b]",
            "[url]",
            "[/url]",
            "[quote]",
            "[/QUOTE]",
            "[code]",
            "[/code]",
            "[br]",
            "[user=1]",
            "[/user]",
            "[icon=x size=1]",
            "[timestamp=99999999999999]",
            "&nbsp;",
            "&#x1F600;",
            "&#",
            ";",
            ">>",
            "------",
            "\n",
            "*",
            "_",
            "~",
            "```",
            "> ",
            "a",
            " ",
            "https://x.test/_",
            "[b]N:[/b] [br]",
            "[",
            "]",
            "я",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            for i in 0..(seed % 12) {
                let pick = (seed.rotate_left(u32::try_from(i * 5).unwrap()) % 35) as usize;
                text.push_str(pieces[pick]);
            }
            crate::fuzzing::bbcode(text.as_bytes());
        }
    }

    /// Every seed (and saved crash) of the `bbcode` fuzz target, through its harness.
    #[test]
    fn fuzz_seeds_replay() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut count = 0;
        for dir in ["corpus/bbcode", "artifacts/bbcode"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(dir)) else { continue };
            for entry in entries {
                crate::fuzzing::bbcode(&std::fs::read(entry.unwrap().path()).unwrap());
                count += 1;
            }
        }
        assert!(count >= 3, "{count} seeds");
    }
}
