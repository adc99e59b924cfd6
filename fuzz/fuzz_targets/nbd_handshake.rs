//! Any bytes as what an NBD server sends during the handshake: an 18-byte greeting, then
//! option replies (a 20-byte header and its payload) as the client reads them. Parsing
//! returns, never panics; a payload longer than the bound is refused from its header, before
//! anything is read; an export comes only from an info reply with its 12 bytes.
#![no_main]

use diskless::image::nbd::handshake::{
    self, GREETING_LEN, GoReply, MAX_REPLIES, MAX_REPLY, OPT_GO, REPLY_HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((greeting, mut rest)) = data.split_first_chunk::<GREETING_LEN>() else {
        return;
    };
    let Ok(flags) = handshake::parse_greeting(greeting) else {
        return;
    };
    assert!(flags & handshake::FLAG_FIXED_NEWSTYLE != 0);
    let client = u32::from_be_bytes(handshake::client_flags(flags));
    assert!(client & !3 == 0);
    for _ in 0..MAX_REPLIES {
        let Some((header, after)) = rest.split_first_chunk::<REPLY_HEADER_LEN>() else {
            return;
        };
        let header = match handshake::parse_reply_header(header, OPT_GO) {
            Ok(header) => header,
            Err(error) => {
                assert!(!error.to_string().is_empty());
                return;
            }
        };
        assert!(header.len <= MAX_REPLY);
        let len = header.len as usize;
        let Some(payload) = after.get(..len) else {
            return;
        };
        rest = &after[len..];
        match handshake::go_reply(header, payload) {
            Ok(GoReply::Info(Some(_))) => assert!(header.kind == 3 && payload.len() >= 12),
            Ok(GoReply::Done | GoReply::Unsupported) => return,
            Ok(GoReply::Info(None)) => {}
            Err(error) => {
                let text = error.to_string();
                assert!(!text.is_empty() && text.len() < 600, "{text}");
                return;
            }
        }
    }
    if let Some(reply) = rest.first_chunk::<{ handshake::EXPORT_NAME_REPLY_LEN }>() {
        let _ = handshake::export_name_reply(reply);
    }
});
