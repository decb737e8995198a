//! A hello-world `wasi:http/proxy` component: every request gets `200
//! hello`. `just bench serve` runs it under `wasmtime serve` as the anchor
//! for `spellhost serve`'s requests per second — the least work a Wasm HTTP
//! server can do per request (a fresh instance, a response, no spell).

use std::io::Write as _;

use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(Hello);

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let response = OutgoingResponse::new(Fields::new());
        let body = response.body().expect("a fresh response has a body");
        ResponseOutparam::set(out, Ok(response));
        let mut stream = body.write().expect("the body is written once");
        stream.write_all(b"hello\n").expect("writing the body");
        stream.flush().expect("flushing the body");
        drop(stream);
        OutgoingBody::finish(body, None).expect("finishing the body");
    }
}
