"""The pages people use: templates, htmx views and the editor's JS bundle."""
