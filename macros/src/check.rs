//! What the attribute accepts: an `async fn` of named, owned, concrete arguments,
//! without `self` or generics. Everything else is a spanned error that says what to do
//! instead.

use quote::{ToTokens, format_ident};
use syn::{FnArg, GenericArgument, Ident, Pat, PathArguments, ReturnType, Signature, Type};

/// One argument of the cached function.
pub(crate) struct Arg {
    /// Its name in the generated function (the user's, or `__argN` for `_`).
    pub(crate) name: Ident,
    /// Its type.
    pub(crate) ty: Type,
}

/// Checks `sig` and returns its arguments, or every error found (combined).
pub(crate) fn signature(sig: &Signature) -> syn::Result<Vec<Arg>> {
    let mut errors = Errors::default();
    if sig.asyncness.is_none() {
        errors.add(
            &sig.fn_token,
            "the cache memoizes async functions: make it `async fn`",
        );
    }
    if let Some(constness) = &sig.constness {
        errors.add(constness, "a cached function cannot be `const`");
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.add(unsafety, "a cached function cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        errors.add(abi, "a cached function cannot have an `extern` ABI");
    }
    let generics: Option<&dyn ToTokens> = match &sig.generics.where_clause {
        _ if !sig.generics.params.is_empty() => Some(&sig.generics),
        Some(where_clause) => Some(where_clause),
        None => None,
    };
    if let Some(generics) = generics {
        errors.add(
            generics,
            "a generic function cannot be cached: its cache is one `static`, and a static \
             cannot be generic. Cache a function of concrete types, or build a handle for \
             each type with `Cached::builder()`",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.add(variadic, "a cached function cannot be variadic");
    }
    let mut args = Vec::new();
    for (i, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(receiver) => errors.add(
                receiver,
                "a method cannot be cached with `#[haiway::cache]`: its cache is one \
                 `static`, shared by every `self`. Keep a `Cached` handle in a field of the \
                 type instead, built with `Cached::builder()`, and call it from the method",
            ),
            FnArg::Typed(typed) => {
                let name = match &*typed.pat {
                    Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                        Some(ident.ident.clone())
                    }
                    Pat::Wild(_) => Some(format_ident!("__arg{}", i)),
                    pat => {
                        errors.add(
                            pat,
                            "the arguments of a cached function are its cache key and need \
                             names: write `name: Type` and destructure it in the body \
                             (`let (a, b) = name;`)",
                        );
                        None
                    }
                };
                types(&typed.ty, false, &mut errors);
                if let Some(name) = name {
                    args.push(Arg {
                        name,
                        ty: (*typed.ty).clone(),
                    });
                }
            }
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        types(ty, true, &mut errors);
    }
    errors.finish(args)
}

/// Reports the `impl Trait` types and the borrowed arguments in `ty`.
fn types(ty: &Type, output: bool, errors: &mut Errors) {
    match ty {
        Type::ImplTrait(_) if output => errors.add(
            ty,
            "a cached function cannot return `impl Trait`: its values are stored in a \
             `static`, which needs their type. Name the type",
        ),
        Type::ImplTrait(_) => errors.add(
            ty,
            "an `impl Trait` argument makes the function generic, and a generic function \
             cannot be cached: its cache is one `static`. Take a concrete type",
        ),
        Type::Reference(reference) => {
            let is_static = reference
                .lifetime
                .as_ref()
                .is_some_and(|lifetime| lifetime.ident == "static");
            if !is_static && !output {
                errors.add(
                    ty,
                    "the arguments of a cached function are kept in the cache as its key, \
                     so they cannot borrow: take an owned type (`String` for `&str`, \
                     `Vec<T>` for `&[T]`)",
                );
            }
            types(&reference.elem, output, errors);
        }
        Type::Array(array) => types(&array.elem, output, errors),
        Type::Group(group) => types(&group.elem, output, errors),
        Type::Paren(paren) => types(&paren.elem, output, errors),
        Type::Ptr(ptr) => types(&ptr.elem, output, errors),
        Type::Slice(slice) => types(&slice.elem, output, errors),
        Type::Tuple(tuple) => {
            for elem in &tuple.elems {
                types(elem, output, errors);
            }
        }
        Type::Path(path) if path.qself.is_none() && path.path.is_ident("Self") => errors.add(
            ty,
            "`#[haiway::cache]` memoizes free functions: their cache is a `static` and a \
             type beside them, which an `impl` cannot hold. Move the function out of the \
             `impl`, naming the type instead of `Self`, or keep a `Cached` handle built \
             with `Cached::builder()` and call it from the method",
        ),
        Type::Path(path) => {
            for segment in &path.path.segments {
                if let PathArguments::AngleBracketed(generics) = &segment.arguments {
                    for arg in &generics.args {
                        if let GenericArgument::Type(ty) = arg {
                            types(ty, output, errors);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// The errors found so far, combined into one `syn::Error`.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    /// An error on `tokens` (spanning all of them).
    fn add(&mut self, tokens: &dyn ToTokens, message: &str) {
        let error = syn::Error::new_spanned(tokens, message);
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(errors) => Err(errors),
            None => Ok(value),
        }
    }
}
