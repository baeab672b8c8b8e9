//! What the fuzz targets share: the check that a Query response is well-formed XML.

use quick_xml::events::Event;
use quick_xml::Reader;

/// Outside XML 1.0's Char production: the writer turns these into U+FFFD.
fn not_xml(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// `text` as a Query response carries it: XML cannot hold every character.
pub fn as_written(text: &str) -> String {
    text.chars().map(|c| if not_xml(c) { '\u{FFFD}' } else { c }).collect()
}

/// Parse `xml` back with quick-xml and panic unless it is one well-formed document: a
/// declaration, one root element, every end tag matching its start, every text unescaping to
/// characters XML allows, nothing else (no comments, CDATA, DTD). Returns each element's
/// name with its text (unescaped; elements without text are left out).
pub fn parse_back(xml: &str) -> Vec<(String, String)> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut open: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut texts = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Decl(_)) => assert!(roots == 0 && open.is_empty(), "a declaration inside the document: {xml}"),
            Ok(Event::Start(e)) => {
                if open.is_empty() {
                    roots += 1;
                }
                open.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            Ok(Event::Empty(_)) => {
                if open.is_empty() {
                    roots += 1;
                }
            }
            Ok(Event::End(_)) => {
                open.pop().expect("an end tag without a start");
            }
            Ok(Event::Text(t)) => {
                let text = t.unescape().unwrap_or_else(|e| panic!("text that does not unescape ({e}): {xml}"));
                if open.is_empty() {
                    assert!(text.trim().is_empty(), "text outside the root: {xml}");
                    continue;
                }
                assert!(!text.chars().any(not_xml), "a character XML cannot hold: {xml:?}");
                let name = open.last().cloned().unwrap_or_default();
                texts.push((name, text.into_owned()));
            }
            Ok(Event::Eof) => break,
            Ok(other) => panic!("unexpected {other:?} in {xml}"),
            Err(e) => panic!("not well-formed ({e}): {xml}"),
        }
    }
    assert!(open.is_empty(), "unclosed elements {open:?}: {xml}");
    assert_eq!(roots, 1, "not one root element: {xml}");
    texts
}

/// The text of the first element named `name`; "" if it has none.
pub fn text_of<'a>(texts: &'a [(String, String)], name: &str) -> &'a str {
    texts.iter().find(|(n, _)| n == name).map_or("", |(_, t)| t.as_str())
}
