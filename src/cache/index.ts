export { cacheKey, cacheScope } from "./key.js";
export { cacheApplies, readCacheHeader, ResponseCache, type CacheTicket } from "./response-cache.js";
