"""SQL repositories, one module per aggregate, each implementing its protocol in
`rebill.services.ports`. A tenant's repositories are bound to its agency id when made
(`views.SqlAgencyView`); the platform's cross-tenant ones are gathered in
`views.SqlPlatformView`. Every write joins the unit of work's session."""
