"""The generated JSON Schemas and OpenAPI document, installed with the wheel as
`pluginops_schemas`."""
