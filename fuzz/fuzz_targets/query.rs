//! Keyfactor's query language: any text parses or is refused with a position, and a query
//! that parses prints to text that parses back to the same query.
#![no_main]

use certkeeper_domain::query::Query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Query::parse(text) {
        Ok(q) => {
            let printed = q.to_string();
            let again = Query::parse(&printed).expect("a printed query parses");
            assert_eq!(q, again, "print then parse changed {text:?} (printed {printed:?})");
        }
        Err(e) => assert!(e.position <= text.len() + 1, "position past the end: {e:?}"),
    }
});
