//! How an engine message reads in a window. Messages start in lower case and carry no full stop,
//! so they read well after "airlock: " in the CLI; a window shows them as sentences.

/// `error` as a sentence: its first letter capitalised, ending in a full stop (unless it
/// already ends a sentence).
pub fn sentence(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.is_empty() && !out.ends_with(['.', '?', '!']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn a_message_becomes_a_sentence_once() {
        assert_eq!(sentence(&"port 5432 is in use"), "Port 5432 is in use.");
        assert_eq!(sentence(&"done. Start it again."), "Done. Start it again.");
        assert_eq!(sentence(&"is it running?"), "Is it running?");
        assert_eq!(sentence(&"élan"), "Élan.");
        assert_eq!(sentence(&""), "");
    }
}
