"""Ad copy variants: checks of facts and safety on every variant (pure logic, no model)."""
