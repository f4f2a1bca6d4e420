"""The prediction service's endpoints, one module each: ``health``, ``ready``, ``metadata``, ``metrics``, ``predict``.

Each holds a FastAPI ``APIRouter`` whose handlers find the running service on ``request.app.state.service``;
``serving.app`` includes them all.
"""
