//! `enum_with_unknown!`: codepoint enums whose unknown values are data (smoltcp's macro, rewritten).
//! Exported for the other wire-format crates (`radius`).

/// Declares a codepoint enum with an `Unknown(repr)` variant, plus lossless `From` conversions in
/// both directions.
///
/// ```ignore
/// enum_with_unknown! {
///     /// PPP protocol numbers.
///     pub enum Protocol(u16) {
///         /// Link Control Protocol.
///         Lcp = 0xc021,
///     }
/// }
/// ```
#[macro_export]
macro_rules! enum_with_unknown {
    (
        $( #[$enum_attr:meta] )*
        pub enum $name:ident($ty:ty) {
            $(
              $( #[$variant_attr:meta] )*
              $variant:ident = $value:expr
            ),+ $(,)?
        }
    ) => {
        $( #[$enum_attr] )*
        #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Clone, Copy)]
        pub enum $name {
            $(
              $( #[$variant_attr] )*
              $variant
            ),*,
            /// A value this implementation does not know; kept as data.
            Unknown($ty)
        }

        impl ::core::convert::From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $( value if value == $value => $name::$variant ),*,
                    other => $name::Unknown(other)
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value ),*,
                    $name::Unknown(other) => other
                }
            }
        }
    }
}
