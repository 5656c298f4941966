export {
  books,
  checkBooks,
  describeBooks,
  genesisSupply,
  keyKind,
  VALUE_STORES,
  type Books,
  type ValueStore,
} from './books.js'
