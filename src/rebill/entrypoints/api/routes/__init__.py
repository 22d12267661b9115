"""The API's routes, one `APIRouter` per resource the URL names; `create_app` includes them in
this order (the order of the OpenAPI document)."""
