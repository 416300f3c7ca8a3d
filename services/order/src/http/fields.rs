//! Request fields whose OpenAPI schema states exactly the rule the domain applies (the
//! `ordo_domain::checkout` patterns and lengths), so that a client generated from the document
//! sends only what is accepted. Each is a plain string on the wire.

use ordo_domain::checkout::{COUNTRY_PATTERN, EMAIL_PATTERN, OPTIONAL_TEXT_PATTERN, SKU_PATTERN, TEXT_PATTERN};
use ordo_domain::money::CURRENCY_PATTERN;
use serde::Deserialize;
use std::borrow::Cow;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

macro_rules! string_field {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $max:expr, $description:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl utoipa::__dev::ComposeSchema for $name {
            fn compose(_: Vec<RefOr<Schema>>) -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some($pattern))
                    .max_length($max)
                    .description(Some($description))
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

string_field!(
    /// Free text of at most 20 characters.
    Text20, TEXT_PATTERN, Some(20), "Text: 1 to 20 characters, not only white space, no control characters (stored trimmed)"
);
string_field!(
    /// Free text of at most 100 characters.
    Text100, TEXT_PATTERN, Some(100), "Text: 1 to 100 characters, not only white space, no control characters (stored trimmed)"
);
string_field!(
    /// Free text of at most 200 characters.
    Text200, TEXT_PATTERN, Some(200), "Text: 1 to 200 characters, not only white space, no control characters (stored trimmed)"
);
string_field!(
    /// Free text of at most 500 characters.
    Text500, TEXT_PATTERN, Some(500), "Text: 1 to 500 characters, not only white space, no control characters (stored trimmed)"
);
string_field!(
    /// An object key of at most 1,024 characters.
    Text1024, TEXT_PATTERN, Some(1024), "Text: 1 to 1024 characters, not only white space, no control characters (stored trimmed)"
);
string_field!(
    /// Optional free text of at most 40 characters.
    OptionalText40, OPTIONAL_TEXT_PATTERN, Some(40), "Optional text: at most 40 characters, no control characters; white space alone counts as absent"
);
string_field!(
    /// Optional free text of at most 100 characters.
    OptionalText100, OPTIONAL_TEXT_PATTERN, Some(100), "Optional text: at most 100 characters, no control characters; white space alone counts as absent"
);
string_field!(
    /// Optional free text of at most 200 characters.
    OptionalText200, OPTIONAL_TEXT_PATTERN, Some(200), "Optional text: at most 200 characters, no control characters; white space alone counts as absent"
);
string_field!(
    /// An e-mail address.
    EmailText, EMAIL_PATTERN, Some(254), "An e-mail address: local part of 1 to 64 characters, a domain of letter-digit-hyphen labels (IDNs as xn--), at most 254 characters"
);
string_field!(
    /// An ISO 3166-1 alpha-2 country code.
    CountryText, COUNTRY_PATTERN, None, "ISO 3166-1 alpha-2 country code, either case"
);
string_field!(
    /// An ISO 4217 currency code.
    CurrencyText, CURRENCY_PATTERN, None, "ISO 4217 currency code, upper case"
);
string_field!(
    /// A stock-keeping unit.
    SkuText, SKU_PATTERN, None, "SKU: 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit; unique in the tenant"
);
