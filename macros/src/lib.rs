//! The `#[haiway::cache]` attribute. Use it through the [haiway] crate, which
//! re-exports it and documents it: `#[haiway::cache(limit = 1_000)]` on an `async fn`
//! memoizes it in place.
//!
//! [haiway]: https://docs.rs/haiway

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]

mod args;
mod check;
mod expand;

use proc_macro::TokenStream;

/// *Defined in the crate `haiway-macros`: use it as `#[haiway::cache]`, through the
/// `haiway` crate, whose docs of it come with examples.*
#[proc_macro_attribute]
pub fn cache(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(args as args::Args);
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    match expand::expand(args, item.clone()) {
        Ok(expanded) => expanded.into(),
        // The function as written beside the error, so that its callers do not add
        // errors of their own.
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(quote::ToTokens::into_token_stream(item));
            tokens.into()
        }
    }
}
