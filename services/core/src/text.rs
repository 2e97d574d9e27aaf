//! Characters no identifier or label may hold (security.md §5.1 S4–S8): controls, and the
//! invisible characters that make two strings look alike or reorder what is shown
//! (bidirectional marks and isolates, zero-width characters, the byte-order mark, the soft
//! hyphen).

/// Whether `c` is a control or an invisible formatting character.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{FEFF}' | '\u{00AD}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters() {
        for c in [
            '\0', '\u{1}', '\u{7f}', '\u{85}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{200d}',
            '\u{feff}',
        ] {
            assert!(is_hidden(c), "{c:?}");
        }
        for c in ['a', 'é', '🦀', ' ', 'а', 'ａ'] {
            assert!(!is_hidden(c), "{c:?}");
        }
    }
}
