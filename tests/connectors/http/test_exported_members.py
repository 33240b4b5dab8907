import connectors.http as http_toolkit


def test_all_exports_exist_and_are_listed_once():
    exported = http_toolkit.__all__
    assert len(exported) == len(set(exported))
    for name in exported:
        assert hasattr(http_toolkit, name), name


def test_every_public_name_is_exported():
    # Anything importable from the package (not a submodule, not private) must be in __all__, so the
    # public surface is a deliberate list rather than whatever happened to be imported.
    public = {
        name
        for name, value in vars(http_toolkit).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("connectors.http")
        and not isinstance(value, type(http_toolkit))
    }
    assert public <= set(http_toolkit.__all__)


def test_core_surface_is_there():
    for name in ("VendorClient", "RetryPolicy", "RateLimiter", "PageRequest", "OAuth2Refresh", "Classifier"):
        assert name in http_toolkit.__all__
