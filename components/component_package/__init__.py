"""The three components as a Pulumi component package, usable from any Pulumi language.

`PulumiPlugin.yaml` (repo root) names `components/component_package/__main__.py` as the plugin's entry point:
it hosts `hosted.InventoryPipeline`, `hosted.BatchQualifier` and `hosted.ThrottledIndexer` with
`pulumi.provider.experimental.component_provider_host`, whose analyzer infers the package schema from their
type annotations. Their args types are derived from the components' Args and stack sections
(`schema_types`), so no setting is declared a second time for the package.
"""
