"""The one core that talks to Exact Online: config, OAuth token broker, HTTP client, mappings."""
