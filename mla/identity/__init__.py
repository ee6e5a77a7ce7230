"""Who is logging in: single sign-on with the ministry's OpenID Connect provider (`oidc`,
`mapping`, `sso`), second factors for local accounts (`totp`, `webauthn`), and the login
steps that tie them to the session tokens of mla.security (`login`)."""
