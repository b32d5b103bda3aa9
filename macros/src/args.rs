//! The attribute's arguments: `limit = 1_000, expiration = .., unbounded, ..`, one per
//! builder setting, each with the builder method's name.

use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, Token};

/// Every argument the attribute knows, for the error on an unknown one.
const KNOWN: &str = "`limit`, `unbounded`, `expiration`, `name`, `shards`, `make_key`, \
                     `backend`, `clock`, `store_errors`";

/// The parsed arguments of `#[haiway::cache(..)]`.
#[derive(Default)]
pub(crate) struct Args {
    /// `limit = <usize>`.
    pub(crate) limit: Option<Expr>,
    /// The flag `unbounded`.
    pub(crate) unbounded: Option<Ident>,
    /// `expiration = <Duration>`.
    pub(crate) expiration: Option<Expr>,
    /// `name = <string>`; the default is the function's name.
    pub(crate) name: Option<Expr>,
    /// `shards = <usize>`.
    pub(crate) shards: Option<Expr>,
    /// `make_key = <closure or path>`.
    pub(crate) make_key: Option<Expr>,
    /// `backend = <expression>`, evaluated once, on first use.
    pub(crate) backend: Option<Expr>,
    /// `clock = <impl Clock>`.
    pub(crate) clock: Option<Expr>,
    /// The flag `store_errors`: a `Result` is stored whole, errors included.
    pub(crate) store_errors: Option<Ident>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let key = input.call(Ident::parse_any)?;
            let value = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                Some(input.parse::<Expr>()?)
            } else {
                None
            };
            args.set(key, value)?;
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        if let (Some(_), Some(unbounded)) = (&args.limit, &args.unbounded) {
            return Err(syn::Error::new(
                unbounded.span(),
                "`limit` and `unbounded` contradict each other: keep one",
            ));
        }
        Ok(args)
    }
}

impl Args {
    /// Records the argument `key` (with its `value`), or says what is wrong with it.
    fn set(&mut self, key: Ident, value: Option<Expr>) -> syn::Result<()> {
        let name = key.to_string();
        let (slot, flag) = match name.as_str() {
            "unbounded" => return set_flag(&mut self.unbounded, key, value),
            "store_errors" => return set_flag(&mut self.store_errors, key, value),
            "limit" => (&mut self.limit, "limit = 1_000"),
            "expiration" => (&mut self.expiration, "expiration = Duration::from_secs(60)"),
            "name" => (&mut self.name, "name = \"profiles\""),
            "shards" => (&mut self.shards, "shards = 8"),
            "make_key" => (
                &mut self.make_key,
                "make_key = |id: &u64| format!(\"user:{id}\")",
            ),
            "backend" => (&mut self.backend, "backend = MyBackend::new()"),
            "clock" => (&mut self.clock, "clock = ManualClock::new()"),
            _ => {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown argument `{name}`: the known arguments are {KNOWN}"),
                ));
            }
        };
        let Some(value) = value else {
            return Err(syn::Error::new(
                key.span(),
                format!("`{name}` takes a value: `{flag}`"),
            ));
        };
        if slot.is_some() {
            return Err(syn::Error::new(
                key.span(),
                format!("`{name}` is given twice"),
            ));
        }
        *slot = Some(value);
        Ok(())
    }
}

/// Records the flag `key`, which takes no value.
fn set_flag(slot: &mut Option<Ident>, key: Ident, value: Option<Expr>) -> syn::Result<()> {
    if value.is_some() {
        return Err(syn::Error::new(
            key.span(),
            format!("`{key}` is a flag and takes no value: write `{key}` alone"),
        ));
    }
    if slot.is_some() {
        return Err(syn::Error::new(
            key.span(),
            format!("`{key}` is given twice"),
        ));
    }
    *slot = Some(key);
    Ok(())
}
