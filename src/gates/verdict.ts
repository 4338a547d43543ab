// The verdict vocabulary moved to src/promotion/verdict.ts. Only the live judges (live/*-judge.ts) still
// import it from here; their import lines move when that change lands, and then this file goes.
export * from '../promotion/verdict';
