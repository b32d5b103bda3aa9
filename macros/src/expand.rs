//! The expansion of `#[haiway::cache(..)] async fn name(args) -> R { body }`:
//!
//! - `fn name(args) -> impl Future<Output = R> + Send + 'static`, returning the
//!   handle's call future (`async fn` as written when the backend is awaited: the
//!   handle is then awaited first);
//! - an uninhabited `enum name {}` of the same visibility (a type and a function can
//!   share a name), whose associated functions reach the handle: `name::cached()`,
//!   `name::clear_cache()`, `name::clear_call_cache(&args)`. Unlike a module, a type
//!   can be declared in a function body and still see everything the function sees,
//!   so the attribute works in `fn main` and in tests as well as at module level;
//! - in its impl, the original body as a private `__uncached` function, and the handle
//!   in a `static` inside `cached()`, built on first use by `__build()` with the
//!   attribute's settings.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, GenericArgument, ItemFn, Pat, PatIdent, PathArguments, ReturnType, Type};

use crate::args::Args;
use crate::check::{self, Arg};

/// Expands the attribute `args` on `item`.
pub(crate) fn expand(args: Args, item: ItemFn) -> syn::Result<TokenStream> {
    let arguments = check::signature(&item.sig)?;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;
    let name = &sig.ident;
    let cfgs: Vec<_> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect();

    let names: Vec<_> = arguments.iter().map(|arg| &arg.name).collect();
    let tys: Vec<_> = arguments.iter().map(|arg| &arg.ty).collect();
    let (key_ty, key) = match arguments.as_slice() {
        [] => (quote!(()), quote!(())),
        [Arg { name, ty }] => (quote!(#ty), quote!(#name)),
        _ => (quote!((#(#tys,)*)), quote!((#(#names,)*))),
    };
    // The key of `clear_call_cache(&a, &b)`, built from the borrowed arguments.
    let borrowed_key = match arguments.as_slice() {
        [] => quote!(&()),
        [Arg { name, .. }] => quote!(#name),
        _ => quote!(&(#(::std::clone::Clone::clone(#names),)*)),
    };

    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let attribute = quote!(::haiway::cache::attribute);
    let (handle_ty, build) = match (&sig.output, &args.store_errors) {
        (ReturnType::Type(_, ty), None) if is_result(ty) => {
            let (ok, err) = match result_args(ty) {
                Some((ok, err)) => (quote!(#ok), quote!(#err)),
                // An alias such as `io::Result<T>`: its types through a trait.
                None => (
                    quote!(<#ty as #attribute::Fallible>::Ok),
                    quote!(<#ty as #attribute::Fallible>::Err),
                ),
            };
            (
                quote!(::haiway::cache::TryCached<#key_ty, #ok, #err>),
                quote!(try_build),
            )
        }
        _ => (
            quote!(::haiway::cache::Cached<#key_ty, #output>),
            quote!(build),
        ),
    };

    // The builder: settings first (they exist at every stage), then the key, then
    // the backend, as the builder's stages require.
    let mut settings = TokenStream::new();
    match &args.name {
        Some(cache_name) => settings.extend(quote_spanned!(cache_name.span()=> .name(#cache_name))),
        None => {
            let cache_name = name.to_string();
            settings.extend(quote!(.name(#cache_name)));
        }
    }
    if let Some(limit) = &args.limit {
        settings.extend(quote_spanned!(limit.span()=> .limit(#limit)));
    }
    if let Some(unbounded) = &args.unbounded {
        settings.extend(quote_spanned!(unbounded.span()=> .unbounded()));
    }
    if let Some(expiration) = &args.expiration {
        settings.extend(quote_spanned!(expiration.span()=> .expiration(#expiration)));
    }
    if let Some(shards) = &args.shards {
        settings.extend(quote_spanned!(shards.span()=> .shards(#shards)));
    }
    if let Some(clock) = &args.clock {
        settings.extend(quote_spanned!(clock.span()=> .clock(#clock)));
    }
    if let Some(make_key) = &args.make_key {
        settings.extend(quote_spanned!(make_key.span()=> .make_key(#make_key)));
    }
    // A backend written as `async { .. }` or `something.await` is awaited once, by the
    // first caller; `cached()` is then `async`.
    let async_backend = matches!(args.backend, Some(Expr::Async(_) | Expr::Await(_)));
    let backend_init = match &args.backend {
        Some(backend) if async_backend => {
            settings.extend(quote!(.backend(__haiway_backend)));
            let value = match backend {
                Expr::Async(_) => quote!((#backend).await),
                _ => quote!(#backend),
            };
            quote_spanned!(backend.span()=> let __haiway_backend = #value;)
        }
        Some(backend) => {
            settings.extend(quote_spanned!(backend.span()=> .backend(#backend)));
            TokenStream::new()
        }
        None => TokenStream::new(),
    };
    let closure_args = match arguments.as_slice() {
        [] => quote!(_: ()),
        [Arg { name, ty }] => quote!(#name: #ty),
        _ => quote!((#(#names,)*): (#(#tys,)*)),
    };
    let builder = quote! {
        ::haiway::cache::Cached::builder()
            #settings
            .#build(|#closure_args| #name::__uncached(#(#names),*))
    };

    // The outer function: the signature as written (argument patterns replaced by
    // their names), calling the handle.
    let mut outer_sig = sig.clone();
    for (input, arg) in outer_sig.inputs.iter_mut().zip(&arguments) {
        if let FnArg::Typed(typed) = input {
            typed.attrs.clear();
            *typed.pat = named(&arg.name);
        }
    }
    // The body's function: the original signature, renamed.
    let mut inner_sig = sig.clone();
    inner_sig.ident = format_ident!("__uncached");
    for (i, input) in inner_sig.inputs.iter_mut().enumerate() {
        if let FnArg::Typed(typed) = input {
            if let Pat::Wild(_) = &*typed.pat {
                *typed.pat = named(&arguments[i].name);
            }
        }
    }

    let (cached_fn, get, handle_static) = if async_backend {
        (
            quote!(async fn cached() -> &'static #handle_ty),
            quote!(#name::cached().await),
            quote! {
                static HANDLE: #attribute::OnceCell<#handle_ty> = #attribute::OnceCell::new();
                HANDLE.get_or_init(#name::__build).await
            },
        )
    } else {
        (
            quote!(fn cached() -> &'static #handle_ty),
            quote!(#name::cached()),
            quote! {
                static HANDLE: #attribute::LazyLock<#handle_ty> =
                    #attribute::LazyLock::new(#name::__build);
                &HANDLE
            },
        )
    };
    let build_fn = if async_backend {
        quote!(async fn __build() -> #handle_ty { #backend_init #builder })
    } else {
        quote!(fn __build() -> #handle_ty { #builder })
    };

    let type_doc = format!(
        "The cache of [`{name}()`](fn@{name}): `{name}::cached()` is its handle, \
         `{name}::clear_cache()` and `{name}::clear_call_cache(..)` clear it. \
         Generated by `#[haiway::cache]`."
    );
    let cached_doc = if async_backend {
        "The handle of the cache, built on first use (its backend awaited once)."
    } else {
        "The handle of the cache, built on first use."
    };
    let clear_call_doc = format!(
        "Removes the value stored for these arguments of `{name}`, in memory and in \
         the backend."
    );

    // Without an async backend, the function returns the call's future itself, so that
    // a hit costs what a hit through the handle costs (an `async fn` around it would
    // add its own state machine to every poll).
    let outer_body = if async_backend {
        quote!(#get.call(#key).await)
    } else {
        outer_sig.asyncness = None;
        outer_sig.output = syn::parse_quote! {
            -> impl ::std::future::Future<Output = #output> + ::std::marker::Send + 'static
        };
        quote!(#get.call(#key))
    };

    Ok(quote! {
        #(#attrs)*
        #vis #outer_sig {
            #outer_body
        }

        #(#cfgs)*
        #[doc = #type_doc]
        #[allow(non_camel_case_types)]
        #[derive(Debug)]
        #vis enum #name {}

        #(#cfgs)*
        #[allow(dead_code)]
        impl #name {
            #[doc = #cached_doc]
            #[inline]
            #vis #cached_fn {
                #handle_static
            }

            /// Removes every value of the cache, in memory and in the backend.
            #vis async fn clear_cache() -> ::std::result::Result<(), ::haiway::cache::CacheError> {
                #get.clear_cache().await
            }

            #[doc = #clear_call_doc]
            #vis async fn clear_call_cache(#(#names: &#tys),*)
                -> ::std::result::Result<(), ::haiway::cache::CacheError>
            {
                #get.clear_call_cache(#borrowed_key).await
            }

            #build_fn

            #inner_sig #block
        }
    })
}

/// The pattern that binds `name`.
fn named(name: &syn::Ident) -> Pat {
    Pat::Ident(PatIdent {
        attrs: Vec::new(),
        by_ref: None,
        mutability: None,
        ident: name.clone(),
        subpat: None,
    })
}

/// Whether `ty` is spelled `Result<..>` (`std::result::Result`, `io::Result`, ..).
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        Type::Group(group) => is_result(&group.elem),
        Type::Paren(paren) => is_result(&paren.elem),
        _ => false,
    }
}

/// `T` and `E` of `Result<T, E>` written out; `None` for an alias of one argument.
fn result_args(ty: &Type) -> Option<(&Type, &Type)> {
    let Type::Path(path) = ty else { return None };
    let PathArguments::AngleBracketed(generics) = &path.path.segments.last()?.arguments else {
        return None;
    };
    let mut types = generics.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (types.next(), types.next(), types.next()) {
        (Some(ok), Some(err), None) => Some((ok, err)),
        _ => None,
    }
}
